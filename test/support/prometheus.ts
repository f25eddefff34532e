/**
 * A strict reader of the Prometheus text exposition format (0.0.4): what a
 * scraper would read of `/metrics`, and a check that the text is well formed.
 * It throws on a line it cannot read, a sample before its family's `# TYPE`,
 * a sample whose name does not belong to the family (`_bucket`, `_sum`,
 * `_count` for histograms), a `# TYPE` given twice, and a series given twice.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const helps = new Map<string, string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`second HELP, ${where}`);
        helps.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
        const f = families.get(name);
        if (f) f.help = helps.get(name);
        return;
      }
      if (families.has(name)) throw new Error(`second TYPE, ${where}`);
      if (!TYPES.has(rest)) throw new Error(`unknown type, ${where}`);
      current = { name, type: rest, help: helps.get(name), samples: [] };
      families.set(name, current);
      return;
    }
    const sample = parseSample(line, where);
    const family = current;
    if (!family || !belongs(sample.name, family)) throw new Error(`sample outside its family (no # TYPE before it), ${where}`);
    const id = `${sample.name}{${Object.entries(sample.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (series.has(id)) throw new Error(`series given twice, ${where}`);
    series.add(id);
    family.samples.push(sample);
  });
  return families;
}

function belongs(name: string, family: Family): boolean {
  if (name === family.name) return true;
  if (family.type === 'histogram') return [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(name);
  if (family.type === 'summary') return [`${family.name}_sum`, `${family.name}_count`].includes(name);
  return false;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
  if (!m) throw new Error(`not a sample, ${where}`);
  const [, name, , body, raw] = m as unknown as [string, string, string | undefined, string | undefined, string];
  return { name, labels: body === undefined ? {} : parseLabels(body, where), value: parseValue(raw, where) };
}

function parseLabels(body: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(body.slice(i))?.[0];
    if (!name || body[i + name.length] !== '=' || body[i + name.length + 1] !== '"') throw new Error(`bad label at ${i}, ${where}`);
    i += name.length + 2;
    let value = '';
    for (;;) {
      const c = body[i];
      if (c === undefined) throw new Error(`unterminated label value, ${where}`);
      i++;
      if (c === '"') break;
      if (c === '\\') {
        const e = body[i++];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`bad escape \\${e}, ${where}`);
      } else value += c;
    }
    if (name in labels) throw new Error(`label ${name} given twice, ${where}`);
    labels[name] = value;
    if (body[i] === ',') i++;
    else if (i < body.length) throw new Error(`expected , at ${i}, ${where}`);
  }
  return labels;
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(raw: string, where: string): number {
  const special = raw.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  const n = Number(raw);
  if (raw === '' || Number.isNaN(n)) throw new Error(`bad value "${raw}", ${where}`);
  return n;
}

/** The samples named `name` whose labels include `labels`. */
export function samples(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  const out: Sample[] = [];
  for (const f of families.values()) for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) out.push(s);
  return out;
}

/** The one sample named `name` with exactly these labels (undefined when there is none). */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.keys(labels).length;
  const found = samples(families, name, labels).filter((s) => Object.keys(s.labels).length === want);
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}
