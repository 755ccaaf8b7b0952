import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, Loading, Select, fmtTime, useAction } from '../ui';

/** One entry of `sys/event-history`, as the gateway's allow-list view gives it (never event data as stored). */
export interface HistoryEntry {
  sequence: number;
  stream: string;
  type: string;
  recorded_at: string;
  request_id: string;
  actor_accessor: string;
  details: Record<string, unknown>;
}

interface HistoryPage {
  events: HistoryEntry[];
  next_after: number | null;
}

const PAGE_SIZE = 25;

const STREAMS = [
  { value: '', label: 'Everything' },
  { value: 'plugin-catalog', label: 'Plugin catalog' },
  { value: 'mount-table', label: 'Mount table' },
  { value: 'acl-policies', label: 'Policies' },
  { value: 'audit-devices', label: 'Audit devices' },
];

/** What an event did, in a line; the details the view gives, nothing more. */
export function describeEvent(e: HistoryEntry): string {
  const d = e.details;
  const s = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : '');
  const version = (k: string) => (s(k) ? ` ${s(k)}` : '');
  switch (e.type) {
    case 'PluginRegistered':
      return `Registered ${s('plugin_type')} plugin ${s('plugin_name')}${version('plugin_version')}`;
    case 'PluginDeregistered':
      return `Deregistered ${s('plugin_type')} plugin ${s('plugin_name')}${version('plugin_version')}`;
    case 'MountEnabled':
      return `Enabled ${s('path')} (${s('plugin_name') || s('mount_type')}${version('plugin_version')})`;
    case 'MountTuned': {
      const changed = Array.isArray(d.changed) ? (d.changed as string[]).join(', ') : '';
      return `Tuned ${s('path')}${changed ? `: ${changed}` : ''}`;
    }
    case 'MountDisabled':
      return `Disabled ${s('path')}`;
    case 'MountMoved':
      return `Moved ${s('from')} to ${s('to')}`;
    case 'PolicyWritten':
      return `Wrote policy ${s('name')}`;
    case 'PolicyDeleted':
      return `Deleted policy ${s('name')}`;
    case 'AuditDeviceEnabled':
      return `Enabled ${s('audit_type')} audit device ${s('path')}`;
    case 'AuditDeviceDisabled':
      return `Disabled audit device ${s('path')}`;
    default:
      return e.type;
  }
}

/**
 * The event history of the catalog, the mounts, the policies and the audit devices: `sys/event-history`, newest
 * first, a page at a time ("Show older events" continues from the page's `next_after`). The endpoint needs sudo; a
 * token without it sees Vault's `permission denied` here and the rest of the page still works.
 */
export function EventHistory() {
  const [stream, setStream] = useState('');
  const [entries, setEntries] = useState<HistoryEntry[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [me, setMe] = useState('');
  const [run, error, busy] = useAction();

  const load = (after: number | null, keep: HistoryEntry[]) =>
    run(async () => {
      const query: Record<string, string> = { limit: String(PAGE_SIZE) };
      if (after !== null) query.after = String(after);
      if (stream) query.stream = stream;
      const page = (await api.get<{ data: HistoryPage }>('sys/event-history', query)).data;
      setEntries([...keep, ...page.events]);
      setNext(page.next_after);
      setLoaded(true);
    });

  useEffect(() => {
    setEntries([]);
    setNext(null);
    setLoaded(false);
    void load(null, []);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stream]);

  useEffect(() => {
    // To mark the changes this token made; a token that may not look itself up just goes without the mark.
    api.get<{ data: { accessor: string } }>('auth/token/lookup-self').then(
      (r) => setMe(r.data.accessor),
      () => undefined,
    );
  }, []);

  return (
    <section aria-labelledby="history-heading" data-testid="history">
      <h2 id="history-heading">History</h2>
      <p class="hint">Who changed the plugin catalog, the mounts, the policies and the audit devices, and when (needs a sudo token).</p>
      <div class="row controls">
        <Select label="Show" value={stream} onValue={setStream} options={STREAMS} />
        <button type="button" disabled={busy} onClick={() => void load(null, [])}>
          Refresh history
        </button>
      </div>
      <ErrorBox error={error} />
      {busy && !loaded && <Loading what="the history" />}
      {loaded && entries.length === 0 && <p>No events yet.</p>}
      {entries.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Event history, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Event</th>
                <th scope="col">By (token accessor)</th>
                <th scope="col">Request ID</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.sequence} data-event-type={e.type} data-sequence={String(e.sequence)}>
                  <td>{fmtTime(e.recorded_at)}</td>
                  <th scope="row">
                    {describeEvent(e)}
                    {typeof e.details.sha256 === 'string' && e.details.sha256 && (
                      <>
                        {' '}
                        <code title={e.details.sha256}>sha256 {e.details.sha256.slice(0, 12)}…</code>
                      </>
                    )}
                  </th>
                  <td>
                    <code>{e.type}</code>
                  </td>
                  <td>
                    {e.actor_accessor ? <code>{e.actor_accessor}</code> : <em>the server</em>}
                    {e.actor_accessor && e.actor_accessor === me && ' (you)'}
                  </td>
                  <td>{e.request_id ? <code>{e.request_id}</code> : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next !== null && (
        <button type="button" disabled={busy} onClick={() => void load(next, entries)}>
          Show older events
        </button>
      )}
    </section>
  );
}
