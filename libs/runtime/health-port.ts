import http from 'node:http';
import type { Logger } from 'pino';

export interface HealthState {
  /** The services this process runs. */
  services: string[];
  sealed(): boolean;
  /** Prometheus text of the process's services (`/metrics`); absent: 404 there. */
  metrics?(): Promise<string>;
}

/**
 * A small HTTP port for container healthchecks, one per process (`COFFER_HEALTH_ADDR`): `/health/live` answers 200
 * while the process runs; `/health/ready` 200 once its services have started and the cluster is unsealed, 503
 * before; `/metrics` the Prometheus text of the services that have metrics (the plugin-runner's: launches, crashes,
 * timeouts, pool sizes). Nothing else, and nothing secret: it is meant for the orchestrator, not for clients.
 */
export async function startHealthPort(address: string, state: HealthState, log: Logger): Promise<{ close(): Promise<void> }> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { errors: [] });
    if (path === '/health/live') return send(200, { live: true, services: state.services });
    if (path === '/health/ready') {
      const sealed = state.sealed();
      return send(sealed ? 503 : 200, { ready: !sealed, sealed, services: state.services });
    }
    if (path === '/metrics' && state.metrics) {
      state.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        () => send(500, { errors: ['metrics could not be collected'] }),
      );
      return;
    }
    return send(404, { errors: [] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  log.info({ address }, 'health port listening');
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
