import { clock, h } from './dom.js';
import { jsonBlock } from './json.js';
import { isEnvelope } from './types.js';

/** Which way an entry went: sent by the page, an ack, an event received, or the playground itself. */
export type Direction = 'out' | 'ack' | 'in' | 'sys';

export interface Entry {
  dir: Direction;
  event: string;
  body?: unknown;
  /** A short label next to the event name (`ack`, `no ack`, `12 ms`, an error code). */
  tag?: string;
  /** Forces the styling; otherwise taken from the envelope (`ok`) or the error suffix. */
  status?: 'ok' | 'error' | 'info';
  /** `push`: an event a live subscription received (not the answer to a call). */
  kind?: 'push';
}

const ARROWS: Record<Direction, string> = { out: '↑', ack: '↩', in: '↓', sys: '•' };
const TITLES: Record<Direction, string> = { out: 'sent', ack: 'ack received', in: 'event received', sys: 'playground' };
const MAX_ENTRIES = 500;

/**
 * The timeline: every envelope the page sent and received, newest on top.
 * Long bodies start folded; a filter narrows it by event name.
 */
export class Timeline {
  private filter = '';
  private errorSuffix = '_error';

  constructor(
    private readonly list: HTMLElement,
    private readonly counter: HTMLElement,
  ) {}

  setErrorSuffix(suffix: string): void {
    this.errorSuffix = suffix;
  }

  add(entry: Entry): HTMLElement {
    const status = entry.status ?? this.statusOf(entry);
    const body = entry.body === undefined ? undefined : jsonBlock(entry.body);
    const lines = body?.textContent?.split('\n').length ?? 0;
    const head = h(
      'div',
      { class: 'entry-head' },
      h('span', { class: 'arrow', title: TITLES[entry.dir] }, ARROWS[entry.dir]),
      h('time', {}, clock(Date.now())),
      h('span', { class: 'entry-event', 'data-testid': 'entry-event' }, entry.event),
      entry.tag ? h('span', { class: `tag tag-${status}`, 'data-testid': 'entry-tag' }, entry.tag) : null,
    );
    const li = h('li', {
      class: `entry dir-${entry.dir} st-${status}${entry.kind ? ` kind-${entry.kind}` : ''}`,
      'data-testid': 'entry',
      'data-dir': entry.dir,
      'data-status': status,
      'data-event': entry.event,
      'data-kind': entry.kind,
    });
    if (body && lines > 24 && status !== 'error') {
      // Long bodies fold; the summary keeps the header clickable.
      const details = h('details', {}, h('summary', {}, head), body);
      li.append(details);
    } else {
      li.append(head);
      if (body) li.append(body);
    }
    if (this.filter && !entry.event.toLowerCase().includes(this.filter)) li.hidden = true;
    this.list.prepend(li);
    while (this.list.childElementCount > MAX_ENTRIES) this.list.lastElementChild?.remove();
    this.count();
    return li;
  }

  clear(): void {
    this.list.replaceChildren();
    this.count();
  }

  setFilter(text: string): void {
    this.filter = text.trim().toLowerCase();
    for (const li of Array.from(this.list.children) as HTMLElement[]) {
      li.hidden = this.filter !== '' && !(li.dataset.event ?? '').toLowerCase().includes(this.filter);
    }
  }

  private count(): void {
    const n = this.list.childElementCount;
    this.counter.textContent = n === 1 ? '1 entry' : `${n} entries`;
    this.list.classList.toggle('empty', n === 0);
  }

  private statusOf(entry: Entry): 'ok' | 'error' | 'info' {
    if (entry.dir === 'sys' || entry.dir === 'out') return 'info';
    if (isEnvelope(entry.body)) return entry.body.ok ? 'ok' : 'error';
    if (entry.event.endsWith(this.errorSuffix)) return 'error';
    return 'ok';
  }
}
