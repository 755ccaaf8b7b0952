import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"\s*(,|$)/y;

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  assert.ok(text !== '' && !Number.isNaN(v), `not a sample value: ${line}`);
  return v;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    assert.ok(m && m.index === at, `malformed labels: ${line}`);
    assert.ok(!(m[1]! in out), `label ${m[1]} twice: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_a, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  return out;
}

/** The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` are of histogram (or summary) `x`. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  if (families.has(name)) return families.get(name);
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const f = families.get(base);
  return f && (f.type === 'histogram' || f.type === 'summary') ? f : undefined;
}

/**
 * Prometheus's text exposition format (0.0.4, what prom-client's `registry.metrics()` writes), parsed strictly:
 * HELP and TYPE at most once per family and before its samples, every sample of a declared family, label syntax
 * and values checked, and each histogram consistent (cumulative buckets ending in +Inf equal to its _count).
 */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, 'HELP' | 'TYPE', string, string];
      const f = families.get(name) ?? { name, samples: [] };
      families.set(name, f);
      assert.equal(f.samples.length, 0, `${kind} of ${name} after its samples`);
      if (kind === 'HELP') {
        assert.equal(f.help, undefined, `HELP of ${name} twice`);
        f.help = rest;
      } else {
        assert.equal(f.type, undefined, `TYPE of ${name} twice`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), `unknown TYPE ${rest}`);
        f.type = rest as Family['type'];
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const sample: Sample = { name: m[1]!, labels: parseLabels(m[2] ?? '', line), value: parseValue(m[3]!, line) };
    const family = familyOf(sample.name, families);
    assert.ok(family, `sample of an undeclared family: ${line}`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    assert.ok(!seen.has(key), `sample twice: ${line}`);
    seen.add(key);
    family.samples.push(sample);
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  for (const s of f.samples.filter((x) => x.name === `${f.name}_bucket`)) {
    const { le, ...rest } = s.labels;
    assert.ok(le !== undefined, `${f.name} bucket without le`);
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const [key, buckets] of series) {
    let last = -Infinity;
    let lastCount = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels.le!, b.labels.le!);
      assert.ok(le > last, `${f.name} buckets in order`);
      assert.ok(b.value >= lastCount, `${f.name} buckets cumulative`);
      [last, lastCount] = [le, b.value];
    }
    assert.equal(last, Infinity, `${f.name} ends with le="+Inf"`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key);
    assert.equal(count?.value, lastCount, `${f.name}_count equals its +Inf bucket (${key})`);
  }
}

/** The samples of `name` whose labels include `labels`. */
export function samples(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  const f = familyOf(name, families);
  return (f?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
