import { api, request } from '../api';
import { ErrorBox, Loading, Page, fmtTime, useLoad } from '../ui';
import { EventHistory } from './history';

interface Instance {
  service: string;
  instance: string;
  host: string;
  pid: number;
  version: string;
  started_at: string;
  state: string;
}

interface Health {
  initialized: boolean;
  sealed: boolean;
  standby: boolean;
  version: string;
  cluster_name?: string;
  server_time_utc?: number;
}

/**
 * The cluster: `sys/health` (any status is an answer: 503 sealed, 501 uninitialized, 429 standby) and every instance
 * of every service from `sys/instances`, with the services that have none; then the event history
 * (`sys/event-history`, pages/history.tsx).
 */
export function ClusterPage() {
  // Vault's health codes for sealed/standby are answers, not failures: ask for 200 whatever the state.
  const health = useLoad(() => request<Health>('GET', 'sys/health', undefined, { query: { standbyok: 'true', sealedcode: '200', uninitcode: '200', perfstandbyok: 'true' } }), []);
  const census = useLoad(async () => (await api.get<{ data: { instances: Instance[]; missing_services: string[]; window_ms?: number } }>('sys/instances')).data, []);
  const h = health.data;
  const c = census.data;
  return (
    <Page
      title="Cluster"
      actions={
        <button
          type="button"
          onClick={() => {
            health.reload();
            census.reload();
          }}
        >
          Refresh
        </button>
      }
    >
      <h2>Health</h2>
      <ErrorBox error={health.error} />
      {health.loading && !h && <Loading what="the health" />}
      {h && (
        <dl class="facts" data-testid="health">
          <dt>Initialized</dt>
          <dd>{h.initialized ? 'yes' : 'no'}</dd>
          <dt>Sealed</dt>
          <dd>{h.sealed ? 'yes' : 'no'}</dd>
          <dt>Standby</dt>
          <dd>{h.standby ? 'yes' : 'no'}</dd>
          <dt>Version</dt>
          <dd>{h.version}</dd>
          {h.cluster_name && (
            <>
              <dt>Cluster name</dt>
              <dd>{h.cluster_name}</dd>
            </>
          )}
        </dl>
      )}
      <h2>Instances</h2>
      <ErrorBox error={census.error} />
      {census.loading && !c && <Loading what="the instances (a census takes a moment)" />}
      {c && c.missing_services.length > 0 && (
        <div class="error" role="alert" data-testid="missing-services">
          <strong>No instance answered for:</strong> {c.missing_services.join(', ')}
        </div>
      )}
      {c && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Instances of the services</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Instance</th>
                <th scope="col">State</th>
                <th scope="col">Host</th>
                <th scope="col">PID</th>
                <th scope="col">Version</th>
                <th scope="col">Started</th>
              </tr>
            </thead>
            <tbody>
              {c.instances.map((i) => (
                <tr key={i.instance} data-service={i.service}>
                  <th scope="row">{i.service}</th>
                  <td>
                    <code>{i.instance}</code>
                  </td>
                  <td>{i.state}</td>
                  <td>{i.host}</td>
                  <td>{i.pid}</td>
                  <td>{i.version}</td>
                  <td>{fmtTime(i.started_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <EventHistory />
    </Page>
  );
}
