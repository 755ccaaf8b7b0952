/** One row of the results table: a figure, its baseline from the same run, their ratio, and the target if any. */
export interface Row {
  id: string;
  figure: string;
  coffer: string;
  baseline: string;
  ratio: number;
  /** "≥ 0.35×" etc.; undefined when the issue sets no target (reported for information); "report": asked for, no bar. */
  target?: string;
  /** Undefined: nothing to meet. */
  met?: boolean;
}

export function formatTable(rows: Row[]): string {
  const header = ['Figure', 'Coffer', 'Baseline (same run)', 'Ratio', 'Target', 'Result'];
  const cells = rows.map((r) => [r.figure, r.coffer, r.baseline, `${r.ratio.toFixed(2)}×`, r.target ?? '—', r.met === undefined ? '—' : r.met ? 'met' : 'MISSED']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export const rps = (n: number) => `${Math.round(n).toLocaleString('en-US')} req/s`;
export const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;
