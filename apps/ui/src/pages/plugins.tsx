import { useState } from 'preact/hooks';
import { api, request, type Envelope } from '../api';
import { href } from '../router';
import { ErrorBox, Field, Loading, Notice, Page, Select, useAction, useLoad, ConfirmButton, fmtTime, TableHead } from '../ui';
import { loadCatalog, mountHref, type CatalogEntry, type MountInfo } from './secrets';

interface ReloadStatus {
  reload_id: string;
  results: Record<string, { timestamp: string; success: boolean; message: string }>;
  in_progress: string[];
}

/**
 * The plugin catalog: every entry with its type, version, builtin flag and SHA-256 pin, the mounts that run it,
 * registration by a pasted SHA-256, and reload with each runner's report.
 */
export function PluginsPage() {
  const catalog = useLoad(loadCatalog, []);
  const mounts = useLoad(async () => {
    const [secret, auth] = await Promise.all([
      api.get<{ data: Record<string, MountInfo> }>('sys/mounts'),
      api.get<{ data: Record<string, MountInfo> }>('sys/auth').catch(() => ({ data: {} as Record<string, MountInfo> })),
    ]);
    return [
      ...Object.entries(secret.data).map(([path, m]) => ({ path, m, table: 'secret' as const })),
      ...Object.entries(auth.data).map(([path, m]) => ({ path: `auth/${path}`, m, table: 'auth' as const })),
    ];
  }, []);
  const [reload, setReload] = useState<{ plugin: string; id: string } | undefined>();
  const [run, error] = useAction();

  const usedBy = (e: CatalogEntry) =>
    (mounts.data ?? []).filter(({ m, table }) => table === e.type && m.type === e.name && (e.builtin ? !m.plugin_version : m.plugin_version === e.version));

  return (
    <Page title="Plugins">
      <ErrorBox error={catalog.error ?? mounts.error ?? error} />
      {catalog.loading && !catalog.data && <Loading what="the catalog" />}
      {catalog.data && (
        <div class="table-wrap">
          <table class="catalog">
            <caption class="sr-only">Plugin catalog</caption>
            <TableHead columns={['Name', 'Type', 'Version', 'Builtin', 'SHA-256', 'Mounts']} actions />
            <tbody>
              {[...catalog.data]
                .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version))
                .map((e) => {
                  const used = usedBy(e);
                  return (
                    <tr key={`${e.type}/${e.name}/${e.version}`} data-plugin={e.name}>
                      <th scope="row">{e.name}</th>
                      <td>{e.type}</td>
                      <td>{e.version}</td>
                      <td>{e.builtin ? 'yes' : 'no'}</td>
                      <td>
                        <code class="sha" title={e.sha256}>
                          {e.sha256}
                        </code>
                      </td>
                      <td>
                        {used.length === 0
                          ? '—'
                          : used.map(({ path, m, table }, i) => (
                              <span key={path}>
                                {i > 0 && ', '}
                                {table === 'secret' ? <a href={mountHref(path, m)}>{path}</a> : path}
                              </span>
                            ))}
                      </td>
                      <td class="actions">
                        <button
                          type="button"
                          aria-label={`Reload ${e.name}`}
                          onClick={() =>
                            void run(async () => {
                              const r = await api.put<Envelope<{ reload_id: string }>>('sys/plugins/reload/backend', { plugin: e.name, scope: 'global' });
                              setReload({ plugin: e.name, id: r.data.reload_id });
                            })
                          }
                        >
                          Reload
                        </button>
                        {!e.builtin && (
                          <ConfirmButton
                            label={`Deregister ${e.name}`}
                            onConfirm={() =>
                              run(async () => {
                                await request('DELETE', `sys/plugins/catalog/${e.type}/${e.name}`, undefined, { query: e.version ? { version: e.version } : undefined });
                                catalog.reload();
                              })
                            }
                          />
                        )}
                      </td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
        </div>
      )}
      {reload && <ReloadProgress key={reload.id} plugin={reload.plugin} id={reload.id} />}
      <RegisterForm onRegistered={catalog.reload} />
    </Page>
  );
}

/** A global reload: each runner reports started, then completed or failed; polled until none is still working. */
function ReloadProgress({ plugin, id }: { plugin: string; id: string }) {
  const [tries, setTries] = useState(0);
  const status = useLoad(async () => {
    const r = await api.get<Envelope<ReloadStatus>>('sys/plugins/reload/backend/status', { reload_id: id });
    const done = r.data.in_progress.length === 0 && Object.keys(r.data.results).length > 0;
    if (!done && tries < 20) setTimeout(() => setTries((t) => t + 1), 500);
    return { ...r.data, done };
  }, [id, tries]);
  const s = status.data;
  return (
    <section class="card" aria-labelledby="reload-head" aria-live="polite">
      <h2 id="reload-head">Reload of {plugin}</h2>
      <ErrorBox error={status.error} />
      {s && (
        <>
          <p role="status">{s.done ? 'Reload finished.' : 'Reload in progress…'}</p>
          <ul aria-label="Runners">
            {s.in_progress.map((runner) => (
              <li key={runner}>
                {runner}: started
              </li>
            ))}
            {Object.entries(s.results).map(([runner, r]) => (
              <li key={runner}>
                {runner}: {r.success ? 'completed' : `failed: ${r.message}`} ({fmtTime(r.timestamp)})
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function RegisterForm({ onRegistered }: { onRegistered: () => void }) {
  const [type, setType] = useState('');
  const [name, setName] = useState('');
  const [command, setCommand] = useState('');
  const [version, setVersion] = useState('');
  const [sha256, setSha256] = useState('');
  const [run, error, busy] = useAction();
  const [registered, setRegistered] = useState<{ name: string; type: string; version: string; sha256: string } | undefined>();
  return (
    <form
      class="card"
      aria-label="Register a plugin"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          setRegistered(undefined);
          const body: Record<string, string> = { sha256: sha256.trim().toLowerCase(), command: command.trim() || name.trim() };
          if (version.trim()) body.version = version.trim();
          await api.put(type ? `sys/plugins/catalog/${type}/${name.trim()}` : `sys/plugins/catalog/${name.trim()}`, body);
          // What the catalog now holds (it ran the plugin to learn its type and version, and checked the file's hash).
          const all = await loadCatalog();
          const entry = all.find((x) => x.name === name.trim() && (!type || x.type === type) && (!version.trim() || x.version === version.trim()));
          if (entry) setRegistered(entry);
          onRegistered();
        });
      }}
    >
      <h2>Register a plugin</h2>
      <p>
        The executable must be in the server's plugin directory. Its SHA-256 is what you computed yourself (<code>sha256sum</code>): the catalog
        hashes the file and refuses it unless the two match.
      </p>
      <Select
        label="Type"
        value={type}
        onValue={setType}
        options={[
          { value: '', label: 'Learned from the plugin' },
          { value: 'secret', label: 'Secrets engine' },
          { value: 'auth', label: 'Auth method' },
        ]}
      />
      <Field label="Name" value={name} onValue={setName} required spellcheck={false} />
      <Field label="Command" value={command} onValue={setCommand} placeholder={name || 'the file name'} hint="The file in the plugin directory; the name when left empty." spellcheck={false} />
      <Field label="Version" value={version} onValue={setVersion} placeholder="learned from the plugin" hint="Semantic version, e.g. v1.2.0." />
      <Field label="SHA-256" value={sha256} onValue={setSha256} required pattern="[0-9a-fA-F]{64}" spellcheck={false} autoComplete="off" hint="64 hexadecimal characters." />
      <ErrorBox error={error} />
      {registered && (
        <Notice>
          Registered {registered.type} plugin {registered.name} {registered.version}. SHA-256 held by the catalog: <code data-testid="registered-sha">{registered.sha256}</code>{' '}
          {registered.sha256 === sha256.trim().toLowerCase() ? '(matches what you pasted)' : '(differs from what you pasted)'}.{' '}
          <a href={href('secrets')}>Enable it as a secrets engine</a>.
        </Notice>
      )}
      <button type="submit" disabled={busy || !name.trim()}>
        Register
      </button>
    </form>
  );
}
