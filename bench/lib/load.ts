import autocannon from 'autocannon';

export interface LoadTarget {
  url: string;
  method?: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadFigures {
  /** Mean requests per second over the measured seconds. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed connections, timeouts and non-2xx answers: a figure with any is not trusted. */
  failures: number;
}

export interface LoadSettings {
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

/** One measured load run after a warm-up run whose figures are thrown away (JIT, pools, plugin processes). */
export async function measureLoad(target: LoadTarget, settings: LoadSettings): Promise<LoadFigures> {
  const options = {
    url: target.url,
    method: target.method ?? 'GET',
    headers: target.headers,
    body: target.body,
    connections: settings.connections,
    timeout: 10,
  };
  if (settings.warmupSeconds > 0) await autocannon({ ...options, duration: settings.warmupSeconds });
  const result = await autocannon({ ...options, duration: settings.seconds });
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}
