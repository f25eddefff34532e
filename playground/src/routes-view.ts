import { h } from './dom.js';
import type { RouteSummary } from './types.js';

/** The small badges a route shows in the list and in the editor. */
export function badges(r: RouteSummary): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (r.builtin) out.push(h('span', { class: 'badge badge-builtin', 'data-testid': 'badge-builtin', title: 'provided by sockey' }, 'built-in'));
  if (r.auth !== 'none')
    out.push(h('span', { class: `badge badge-auth-${r.auth}`, 'data-testid': 'badge-auth', title: `auth: ${r.auth}` }, r.auth === 'required' ? 'sign-in required' : 'sign-in optional'));
  out.push(h('span', { class: 'badge badge-action', title: r.action }, r.action.split(/[\s(]/)[0] ?? r.action));
  if (r.timers.length) out.push(h('span', { class: 'badge badge-timer', title: r.timers.join('\n') }, r.timers.length === 1 ? '1 timer' : `${r.timers.length} timers`));
  if (r.guard) out.push(h('span', { class: 'badge badge-guard', 'data-testid': 'badge-guard', title: `guard: ${r.guard}` }, 'guarded'));
  if (r.live) out.push(h('span', { class: 'badge badge-live', 'data-testid': 'badge-live', title: r.live }, 'live'));
  if (r.presence?.length) out.push(h('span', { class: 'badge badge-presence', title: `joins with presence: ${r.presence.join(', ')}` }, 'presence'));
  if (r.rateLimit) out.push(h('span', { class: 'badge badge-rate', title: `rate limit ${r.rateLimit}` }, r.rateLimit));
  return out;
}

/**
 * The route list: app routes first, built-ins last, narrowed by a filter.
 * Routes that a reload just added are marked for a moment.
 */
export class RouteList {
  private routes: RouteSummary[] = [];
  private filter = '';

  constructor(
    private readonly list: HTMLElement,
    private readonly onSelect: (event: string) => void,
  ) {}

  render(routes: RouteSummary[], selected: string | undefined, fresh: Set<string> = new Set()): void {
    this.routes = [...routes].sort((a, b) => Number(a.builtin) - Number(b.builtin) || a.event.localeCompare(b.event));
    this.list.replaceChildren(
      ...this.routes.map((r) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `route${r.event === selected ? ' selected' : ''}${fresh.has(r.event) ? ' fresh' : ''}`,
              'data-testid': `route-${r.event}`,
              'data-event': r.event,
              'aria-pressed': r.event === selected ? 'true' : 'false',
              onclick: () => this.onSelect(r.event),
            },
            h('span', { class: 'route-event' }, r.event),
            h('span', { class: 'badges' }, ...badges(r)),
            r.description ? h('span', { class: 'route-desc' }, r.description) : null,
          ),
        ),
      ),
    );
    if (!this.routes.length) this.list.append(h('li', { class: 'none' }, 'No routes.'));
    this.applyFilter();
  }

  setFilter(text: string): void {
    this.filter = text.trim().toLowerCase();
    this.applyFilter();
  }

  private applyFilter(): void {
    for (const btn of Array.from(this.list.querySelectorAll<HTMLElement>('button.route'))) {
      const r = this.routes.find((x) => x.event === btn.dataset.event);
      const text = `${r?.event ?? ''} ${r?.description ?? ''}`.toLowerCase();
      btn.parentElement!.hidden = this.filter !== '' && !text.includes(this.filter);
    }
  }
}
