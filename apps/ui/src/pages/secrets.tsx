import { useState } from 'preact/hooks';
import { api } from '../api';
import { href } from '../router';
import { ConfirmButton, ErrorBox, Field, Loading, Notice, Page, Select, useAction, useLoad, TableHead } from '../ui';

export interface MountInfo {
  type: string;
  description: string;
  accessor: string;
  options: Record<string, string> | null;
  plugin_version: string;
  running_plugin_version: string;
  running_sha256: string;
  config: { default_lease_ttl: number; max_lease_ttl: number };
}

export interface CatalogEntry {
  type: 'secret' | 'auth' | 'database';
  name: string;
  version: string;
  builtin: boolean;
  sha256: string;
  deprecation_status: string;
}

export const loadCatalog = async (): Promise<CatalogEntry[]> => (await api.get<{ data: { detailed: CatalogEntry[] } }>('sys/plugins/catalog')).data.detailed;

export function isKv2(m: MountInfo): boolean {
  return m.type === 'kv' && m.options?.version === '2';
}

/** Where a mount's browser is: KV v2 has its own, any other plugin gets generic read/write with path-help. */
export function mountHref(path: string, m: MountInfo): string {
  return isKv2(m) ? href('kv', { mount: path }) : href('request', { mount: path });
}

/**
 * The secrets engines (table "secret") or the auth methods (table "auth"): the list, enable with the plugin picked
 * from the catalog, tune (description and TTLs) and disable.
 */
export function MountsManager({ table }: { table: 'secret' | 'auth' }) {
  const base = table === 'secret' ? 'sys/mounts' : 'sys/auth';
  const mounts = useLoad(async () => (await api.get<{ data: Record<string, MountInfo> }>(base)).data, [base]);
  const catalog = useLoad(loadCatalog, []);
  const [run, error] = useAction();
  const [tuning, setTuning] = useState<string | undefined>();
  const entries = Object.entries(mounts.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const noun = table === 'secret' ? 'secrets engine' : 'auth method';

  return (
    <>
      <ErrorBox error={mounts.error ?? error} />
      {mounts.loading && !mounts.data && <Loading />}
      {mounts.data && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">{table === 'secret' ? 'Secrets engines' : 'Auth methods'}</caption>
            <TableHead columns={['Path', 'Plugin', 'Version', 'Description', 'Accessor']} actions />
            <tbody>
              {entries.map(([path, m]) => (
                <tr key={path}>
                  <th scope="row">
                    {table === 'secret' && path !== 'sys/' ? <a href={mountHref(path, m)}>{path}</a> : table === 'auth' ? <a href={href('request', { mount: `auth/${path}` })}>{path}</a> : path}
                  </th>
                  <td>
                    {m.type}
                    {isKv2(m) ? ' (v2)' : ''}
                  </td>
                  <td>{m.running_plugin_version || m.plugin_version}</td>
                  <td>{m.description}</td>
                  <td>
                    <code>{m.accessor}</code>
                  </td>
                  <td class="actions">
                    {path !== 'sys/' && path !== 'token/' && path !== 'cubbyhole/' && (
                      <>
                        <button type="button" onClick={() => setTuning(tuning === path ? undefined : path)} aria-expanded={tuning === path} aria-label={`Tune ${path}`}>
                          Tune
                        </button>
                        <ConfirmButton
                          label={`Disable ${path}`}
                          onConfirm={() =>
                            run(async () => {
                              await api.delete(`${base}/${path}`);
                              mounts.reload();
                            })
                          }
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tuning && mounts.data?.[tuning] && (
        <TuneForm
          key={tuning}
          path={tuning}
          base={base}
          mount={mounts.data[tuning]}
          onDone={() => {
            setTuning(undefined);
            mounts.reload();
          }}
        />
      )}
      <EnableForm table={table} noun={noun} base={base} catalog={catalog.data ?? []} catalogError={catalog.error} onEnabled={mounts.reload} />
    </>
  );
}

function TuneForm({ path, base, mount, onDone }: { path: string; base: string; mount: MountInfo; onDone: () => void }) {
  const [description, setDescription] = useState(mount.description);
  const [defaultTtl, setDefaultTtl] = useState(mount.config.default_lease_ttl ? String(mount.config.default_lease_ttl) : '');
  const [maxTtl, setMaxTtl] = useState(mount.config.max_lease_ttl ? String(mount.config.max_lease_ttl) : '');
  const [run, error, busy] = useAction();
  return (
    <form
      class="card"
      aria-label={`Tune ${path}`}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const body: Record<string, unknown> = { description };
          if (defaultTtl) body.default_lease_ttl = defaultTtl;
          if (maxTtl) body.max_lease_ttl = maxTtl;
          await api.post(`${base}/${path}tune`, body);
          onDone();
        });
      }}
    >
      <h2>Tune {path}</h2>
      <Field label="Description" value={description} onValue={setDescription} />
      <Field label="Default lease TTL" value={defaultTtl} onValue={setDefaultTtl} placeholder="system default" hint='Seconds or a duration ("1h").' />
      <Field label="Max lease TTL" value={maxTtl} onValue={setMaxTtl} placeholder="system default" />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Save tuning
      </button>
    </form>
  );
}

function EnableForm({ table, noun, base, catalog, catalogError, onEnabled }: { table: 'secret' | 'auth'; noun: string; base: string; catalog: CatalogEntry[]; catalogError: unknown; onEnabled: () => void }) {
  const plugins = catalog.filter((e) => e.type === table);
  const [choice, setChoice] = useState('');
  const [path, setPath] = useState('');
  const [description, setDescription] = useState('');
  const [kvVersion, setKvVersion] = useState('2');
  const [run, error, busy] = useAction();
  const [done, setDone] = useState('');
  const options = [{ value: '', label: 'Choose a plugin…' }, ...plugins.map((e) => ({ value: `${e.name}@${e.version}`, label: `${e.name}${e.version ? ` ${e.version}` : ''}${e.builtin ? ' (builtin)' : ''}` }))];
  const [name, version] = choice.split('@');
  return (
    <form
      class="card"
      aria-label={`Enable a ${noun}`}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const at = (path.trim() || name).replace(/^\/+|\/+$/g, '');
          const entry = plugins.find((p) => p.name === name && p.version === version);
          const body: Record<string, unknown> = { type: name, description };
          // A builtin's version is the server's own; only an external plugin's version is pinned on the mount.
          if (entry && !entry.builtin && version) body.config = { plugin_version: version };
          if (name === 'kv') body.options = { version: kvVersion };
          await api.post(`${base}/${at}`, body);
          setDone(`Enabled ${name} at ${at}/`);
          setPath('');
          setDescription('');
          onEnabled();
        });
      }}
    >
      <h2>Enable a {noun}</h2>
      <ErrorBox error={catalogError} />
      <Select label="Plugin" value={choice} onValue={setChoice} options={options} />
      <Field label="Path" value={path} onValue={setPath} placeholder={name || 'path'} hint="Where to mount it; the plugin's name when left empty." />
      <Field label="Description" value={description} onValue={setDescription} />
      {name === 'kv' && <Select label="KV version" value={kvVersion} onValue={setKvVersion} options={[{ value: '2', label: 'Version 2 (versioned)' }, { value: '1', label: 'Version 1' }]} />}
      <ErrorBox error={error} />
      {done && <Notice>{done}</Notice>}
      <button type="submit" disabled={busy || !name}>
        Enable
      </button>
    </form>
  );
}

export function SecretsPage() {
  return (
    <Page title="Secrets engines">
      <MountsManager table="secret" />
    </Page>
  );
}
