/** What `prometheusText` needs of a prom-client `Registry`. */
export interface MetricsRegistry {
  metrics(): Promise<string>;
}

const PROM_CLIENT_NAN = / Nan$/gm;

/**
 * The Prometheus text of a registry, as the exposition format spells it. prom-client 15 writes NaN as `Nan`, and a
 * gauge with nothing to average (the event-loop lag mean right after its reset) is NaN; Prometheus's own parser is
 * lenient, stricter ones (OpenMetrics, and our tests) refuse the scrape. Every `/metrics` answer goes through here.
 */
export async function prometheusText(registry: MetricsRegistry): Promise<string> {
  return (await registry.metrics()).replace(PROM_CLIENT_NAN, ' NaN');
}
