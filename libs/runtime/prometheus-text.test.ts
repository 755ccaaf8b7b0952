import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gauge, Registry } from 'prom-client';
import { parsePrometheus } from '../../test/support/prometheus.js';
import { prometheusText } from './prometheus-text.js';

// prom-client writes NaN as `Nan`, which the exposition format does not have (it is `NaN`). An event-loop lag
// histogram with no samples since its last reset has a NaN mean, so a scrape could fail any strict parser.
test('prometheusText writes NaN, +Inf and -Inf as the exposition format spells them', async () => {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'coffer_probe', help: 'a probe', labelNames: ['v'], registers: [registry] });
  gauge.set({ v: 'nan' }, Number.NaN);
  gauge.set({ v: 'inf' }, Infinity);
  gauge.set({ v: 'minus' }, -Infinity);
  gauge.set({ v: 'one' }, 1);
  const text = await prometheusText(registry);
  assert.match(text, /^coffer_probe\{v="nan"\} NaN$/m);
  const values = new Map(parsePrometheus(text).get('coffer_probe')!.samples.map((s) => [s.labels.v, s.value]));
  assert.ok(Number.isNaN(values.get('nan')));
  assert.equal(values.get('inf'), Infinity);
  assert.equal(values.get('minus'), -Infinity);
  assert.equal(values.get('one'), 1);
});
