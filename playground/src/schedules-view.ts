import { h } from './dom.js';
import type { ScheduleInfo } from './types.js';

/** A tick's local time: HH:MM:SS today, with the date otherwise. */
function tickTime(t: number): string {
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}`;
}

/**
 * The manifest's schedules under the routes: when each fires, what it runs,
 * where it emits, its latest and next tick. Hidden when there are none.
 */
export class ScheduleList {
  private schedules: ScheduleInfo[] = [];

  constructor(
    private readonly section: HTMLElement,
    private readonly list: HTMLElement,
    private readonly count: HTMLElement,
  ) {}

  /** The soonest next tick shown (epoch ms), to know when the list goes stale. */
  get soonest(): number | undefined {
    const next = this.schedules.flatMap((s) => (s.next === undefined ? [] : [s.next]));
    return next.length ? Math.min(...next) : undefined;
  }

  /**
   * Shows a list from the server. A latest tick the answer lacks or has older is kept: with
   * `serve --workers` another worker (which runs no schedules) may have answered.
   */
  render(schedules: ScheduleInfo[], fresh: Set<string> = new Set()): void {
    const before = new Map(this.schedules.map((s) => [s.name, s.last]));
    this.schedules = [...schedules]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => {
        const last = before.get(s.name);
        return last && last.tick > (s.last?.tick ?? -Infinity) ? { ...s, last } : s;
      });
    this.section.hidden = this.schedules.length === 0;
    this.count.textContent = String(this.schedules.length);
    this.list.replaceChildren(...this.schedules.map((s) => this.item(s, fresh.has(s.name))));
  }

  private item(s: ScheduleInfo, fresh: boolean): HTMLElement {
    const last = s.last;
    return h(
      'li',
      { class: `schedule${fresh ? ' fresh' : ''}`, 'data-testid': 'schedule', 'data-name': s.name },
      h(
        'span',
        { class: 'schedule-head' },
        h('span', { class: 'route-event', 'data-testid': 'schedule-name' }, s.name),
        h('span', { class: 'badge badge-when', 'data-testid': 'schedule-when' }, s.when),
      ),
      s.description ? h('span', { class: 'route-desc' }, s.description) : null,
      h(
        'span',
        { class: 'schedule-runs' },
        h('span', { 'data-testid': 'schedule-action' }, s.action),
        s.emit === 'none' ? ' ' : ' → ',
        h('span', { class: s.emit === 'none' ? 'muted' : undefined, 'data-testid': 'schedule-emit' }, s.emit === 'none' ? '(emits nothing)' : s.emit),
      ),
      h(
        'span',
        { class: 'schedule-ticks' },
        'last ',
        h(
          'span',
          {
            'data-testid': 'schedule-last',
            class: last?.outcome === 'failed' ? 'failed' : undefined,
            title: last ? new Date(last.tick).toISOString() : 'no tick handled by this server since the schedule started',
          },
          last ? `${tickTime(last.tick)} · ${last.outcome === 'another node' ? 'on another node' : last.outcome}` : 'not yet',
        ),
        ' · next ',
        h('span', { 'data-testid': 'schedule-next', title: s.next === undefined ? undefined : new Date(s.next).toISOString() }, s.next === undefined ? 'none' : tickTime(s.next)),
      ),
    );
  }
}
