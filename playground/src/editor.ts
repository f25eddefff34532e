import { byTestId, h, replace } from './dom.js';
import { jsonBlock, prettyJson } from './json.js';
import { badges } from './routes-view.js';
import { fieldsOf, isTrivial, sampleOf } from './schema.js';
import type { RouteSummary } from './types.js';

export type SendFn = (event: string, payload: unknown, withAck: boolean) => Promise<unknown>;

/**
 * The middle panel: what the selected route is, its params schema, and a
 * JSON editor pre-filled from the schema with "send". Drafts are kept per
 * event, so switching routes (or a reload) does not lose an edit.
 */
export class Editor {
  private route: RouteSummary | undefined;
  private event = '';
  /** event -> { text the user has, the sample it started from } */
  private readonly drafts = new Map<string, { text: string; sample: string }>();

  private readonly info = byTestId('route-info');
  private readonly eventInput = byTestId<HTMLInputElement>('event');
  private readonly payload = byTestId<HTMLTextAreaElement>('payload');
  private readonly error = byTestId('payload-error');
  private readonly noAck = byTestId<HTMLInputElement>('no-ack');
  private readonly sendButton = byTestId<HTMLButtonElement>('send');

  constructor(private readonly send: SendFn) {
    this.sendButton.addEventListener('click', () => void this.submit());
    byTestId('reset').addEventListener('click', () => this.reset());
    byTestId('format').addEventListener('click', () => this.format());
    this.payload.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.submit();
      }
    });
    this.payload.addEventListener('input', () => {
      this.saveDraft();
      this.check();
    });
    this.eventInput.addEventListener('input', () => {
      this.event = this.eventInput.value.trim();
    });
  }

  get selected(): string | undefined {
    return this.route?.event;
  }

  /** Shows a route (or an event name without a route: it was removed, or typed by hand). */
  show(route: RouteSummary | undefined, event: string): void {
    if (this.event && this.event !== event) this.saveDraft();
    this.route = route;
    this.event = event;
    this.eventInput.value = event;
    this.renderInfo(false);
    const draft = this.drafts.get(event);
    this.payload.value = draft ? draft.text : this.sample();
    if (!draft) this.drafts.set(event, { text: this.payload.value, sample: this.payload.value });
    this.check();
  }

  /** After a reload: the same event with its new summary (or undefined when it is gone). */
  update(route: RouteSummary | undefined): void {
    const before = this.route;
    this.route = route;
    const schemaChanged = JSON.stringify(before?.paramsSchema) !== JSON.stringify(route?.paramsSchema);
    this.renderInfo(!route && before !== undefined);
    if (route && schemaChanged) {
      const draft = this.drafts.get(this.event);
      const sample = this.sample();
      // An untouched payload follows the new schema; an edited one is kept.
      if (!draft || draft.text === draft.sample) this.payload.value = sample;
      this.drafts.set(this.event, { text: this.payload.value, sample });
      this.check();
    }
  }

  private sample(): string {
    const value = this.route ? sampleOf(this.route.paramsSchema) : {};
    return prettyJson(value ?? {});
  }

  private renderInfo(removed: boolean): void {
    const r = this.route;
    if (!r) {
      replace(
        this.info,
        h('h2', { class: 'route-title' }, this.event || 'No route selected'),
        removed
          ? h('p', { class: 'notice', 'data-testid': 'route-removed' }, 'This route is gone since the last reload. Sending it now answers UNKNOWN_EVENT.')
          : h('p', { class: 'muted' }, this.event ? 'Not a route of this manifest.' : 'Pick a route on the left.'),
      );
      return;
    }
    const fields = fieldsOf(r.paramsSchema);
    const meta: Array<[string, string]> = [
      ['action', r.action],
      ['emit', r.emit],
      ['auth', r.auth],
    ];
    if (r.live) meta.push(['live', r.live]);
    if (r.timers.length) meta.push(['timers', r.timers.join('; ')]);
    if (r.rateLimit) meta.push(['rate limit', r.rateLimit]);
    replace(
      this.info,
      h('div', { class: 'route-title-row' }, h('h2', { class: 'route-title', 'data-testid': 'route-title' }, r.event), h('span', { class: 'badges' }, ...badges(r))),
      r.description ? h('p', { class: 'route-description', 'data-testid': 'route-description' }, r.description) : null,
      h('dl', { class: 'meta' }, ...meta.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-testid': `meta-${k.replace(/\s+/g, '-')}` }, v)])),
      fields.length
        ? h(
            'table',
            { class: 'fields', 'data-testid': 'fields' },
            h('thead', {}, h('tr', {}, h('th', {}, 'param'), h('th', {}, 'type'), h('th', {}, 'constraints'))),
            h(
              'tbody',
              {},
              ...fields.map((f) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('code', {}, f.name), f.required ? h('span', { class: 'req', title: 'required' }, '*') : null),
                  h('td', {}, f.type),
                  h('td', { class: 'muted' }, f.notes.join(' · ')),
                ),
              ),
            ),
          )
        : null,
      isTrivial(r.paramsSchema)
        ? h('p', { class: 'muted small' }, 'Params: any object.')
        : h('details', { class: 'schema', 'data-testid': 'schema' }, h('summary', {}, 'params JSON Schema'), jsonBlock(r.paramsSchema)),
    );
  }

  private saveDraft(): void {
    const d = this.drafts.get(this.event);
    this.drafts.set(this.event, { text: this.payload.value, sample: d?.sample ?? this.payload.value });
  }

  private parse(): { ok: true; value: unknown } | { ok: false; message: string } {
    const text = this.payload.value.trim();
    if (text === '') return { ok: true, value: {} };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  private check(): boolean {
    const p = this.parse();
    this.error.textContent = p.ok ? '' : `Not JSON: ${p.message}`;
    this.error.hidden = p.ok;
    this.payload.classList.toggle('invalid', !p.ok);
    return p.ok;
  }

  private reset(): void {
    const sample = this.sample();
    this.payload.value = sample;
    this.drafts.set(this.event, { text: sample, sample });
    this.check();
  }

  private format(): void {
    const p = this.parse();
    if (p.ok) {
      this.payload.value = prettyJson(p.value);
      this.saveDraft();
    }
    this.check();
  }

  private async submit(): Promise<void> {
    const p = this.parse();
    if (!this.check() || !p.ok) return;
    const event = this.eventInput.value.trim();
    if (!event) {
      this.eventInput.focus();
      return;
    }
    await this.send(event, p.value, !this.noAck.checked);
  }
}
