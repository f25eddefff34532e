// Pretty JSON as DOM nodes with token classes (no innerHTML, so nothing a server sends can inject markup).

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

export function prettyJson(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    // JSON.stringify answers undefined for functions and symbols: name their type instead.
    return JSON.stringify(value, null, 2) ?? typeof value;
  } catch {
    return '(not JSON: a cycle or a BigInt)';
  }
}

/** A `<pre>` of `value`, highlighted. */
export function jsonBlock(value: unknown, className = 'json'): HTMLPreElement {
  const pre = document.createElement('pre');
  pre.className = className;
  const text = prettyJson(value);
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) pre.append(text.slice(last, at));
    const span = document.createElement('span');
    if (m[1] !== undefined) {
      span.className = m[2] ? 'j-key' : 'j-str';
      span.textContent = m[1];
      pre.append(span);
      if (m[2]) pre.append(m[2]);
    } else {
      span.className = m[3] !== undefined ? 'j-lit' : 'j-num';
      span.textContent = m[0];
      pre.append(span);
    }
    last = at + m[0].length;
  }
  if (last < text.length) pre.append(text.slice(last));
  return pre;
}
