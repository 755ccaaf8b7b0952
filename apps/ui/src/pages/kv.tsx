import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { href, navigate } from '../router';
import { ConfirmButton, ErrorBox, Field, Loading, Notice, Page, copyText, fmtTime, useAction, useLoad, Checkbox, TableHead } from '../ui';

interface VersionMeta {
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface SecretMeta {
  current_version: number;
  oldest_version: number;
  max_versions: number;
  cas_required: boolean;
  delete_version_after: string;
  created_time: string;
  updated_time: string;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, VersionMeta>;
}

interface SecretData {
  data: Record<string, unknown> | null;
  metadata: { version: number; created_time: string; deletion_time: string; destroyed: boolean; custom_metadata: Record<string, string> | null };
}

const trim = (m: string) => m.replace(/^\/+/, '').replace(/\/*$/, '/');

/**
 * A KV version 2 mount: folders (LIST metadata/), a secret's keys with values hidden until revealed, create and
 * edit (each save is a new version), the versions with soft delete, undelete and destroy, and the metadata.
 */
export function KvPage({ mount, path, mode }: { mount: string; path: string; mode: string }) {
  const m = trim(mount);
  if (mode === 'new' || mode === 'edit') return <KvEdit mount={m} path={path} isNew={mode === 'new'} />;
  if (path === '' || path.endsWith('/')) return <KvFolder mount={m} folder={path} />;
  return <KvSecret mount={m} path={path} />;
}

function Crumbs({ mount, path }: { mount: string; path: string }) {
  const parts = path.split('/').filter(Boolean);
  return (
    <nav aria-label="Breadcrumb" class="crumbs">
      <a href={href('secrets')}>Secrets engines</a> / <a href={href('kv', { mount })}>{mount}</a>
      {parts.map((p, i) => {
        const sub = `${parts.slice(0, i + 1).join('/')}${i < parts.length - 1 || path.endsWith('/') ? '/' : ''}`;
        return (
          <span key={sub}>
            {' '}
            / <a href={href('kv', { mount, path: sub })}>{p}</a>
          </span>
        );
      })}
    </nav>
  );
}

function KvFolder({ mount, folder }: { mount: string; folder: string }) {
  const keys = useLoad(() => api.list(`${mount}metadata/${folder}`), [mount, folder]);
  return (
    <Page
      title={`${mount}${folder}`}
      actions={
        <a class="button" href={href('kv', { mount, path: folder, mode: 'new' })}>
          Create secret
        </a>
      }
    >
      <Crumbs mount={mount} path={folder} />
      <ErrorBox error={keys.error} />
      {keys.loading && !keys.data && <Loading />}
      {keys.data && keys.data.length === 0 && <p>No secrets here yet.</p>}
      {keys.data && keys.data.length > 0 && (
        <ul class="listing" aria-label="Secrets">
          {keys.data.map((k) => (
            <li key={k}>
              <a href={href('kv', { mount, path: folder + k })}>
                <span aria-hidden="true">{k.endsWith('/') ? '📁 ' : '🔑 '}</span>
                {k}
              </a>
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href={href('request', { mount })}>Other paths of this mount (generic requests)</a>
      </p>
    </Page>
  );
}

function KvSecret({ mount, path }: { mount: string; path: string }) {
  const [version, setVersion] = useState<number | undefined>();
  const meta = useLoad(async () => (await api.get<{ data: SecretMeta }>(`${mount}metadata/${path}`)).data, [mount, path]);
  const data = useLoad(async () => {
    try {
      return (await api.get<{ data: SecretData }>(`${mount}data/${path}`, version ? { version: String(version) } : undefined)).data;
    } catch (err) {
      // A deleted or destroyed version is a 404: its metadata still says which, so the page shows that instead.
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }, [mount, path, version]);
  const [run, error] = useAction();
  const reload = () => {
    meta.reload();
    data.reload();
  };
  const change = (op: 'delete' | 'undelete' | 'destroy', v: number) =>
    run(async () => {
      await api.post(`${mount}${op}/${path}`, { versions: [v] });
      reload();
    });
  const shownVersion = version ?? meta.data?.current_version;

  return (
    <Page
      title={path}
      actions={
        <a class="button" href={href('kv', { mount, path, mode: 'edit' })}>
          Create new version
        </a>
      }
    >
      <Crumbs mount={mount} path={path} />
      <ErrorBox error={data.error ?? meta.error ?? error} />
      <section aria-labelledby="kv-data">
        <h2 id="kv-data">
          Data{shownVersion ? `, version ${shownVersion}` : ''}
          {version !== undefined && version !== meta.data?.current_version && ' (not the current version)'}
        </h2>
        {data.loading && <Loading />}
        {!data.loading && data.data === null && <Notice>Version {shownVersion} is deleted or destroyed: its data cannot be read.</Notice>}
        {data.data?.data && <SecretValues values={data.data.data} />}
      </section>
      {meta.data && (
        <section aria-labelledby="kv-versions">
          <h2 id="kv-versions">Versions</h2>
          <div class="table-wrap">
            <table>
              <TableHead columns={['Version', 'Created', 'State']} actions />
              <tbody>
                {Object.entries(meta.data.versions)
                  .map(([n, v]) => [Number(n), v] as const)
                  .sort(([a], [b]) => b - a)
                  .map(([n, v]) => {
                    const state = v.destroyed ? 'destroyed' : v.deletion_time ? 'deleted' : 'active';
                    return (
                      <tr key={n} data-version={n}>
                        <th scope="row">
                          <button type="button" class="link" onClick={() => setVersion(n)} aria-label={`Show version ${n}`}>
                            {n}
                            {n === meta.data!.current_version ? ' (current)' : ''}
                          </button>
                        </th>
                        <td>{fmtTime(v.created_time)}</td>
                        <td>{state}</td>
                        <td class="actions">
                          {state === 'active' && (
                            <button type="button" onClick={() => void change('delete', n)} aria-label={`Delete version ${n}`}>
                              Delete
                            </button>
                          )}
                          {state === 'deleted' && (
                            <button type="button" onClick={() => void change('undelete', n)} aria-label={`Undelete version ${n}`}>
                              Undelete
                            </button>
                          )}
                          {state !== 'destroyed' && <ConfirmButton label={`Destroy version ${n}`} onConfirm={() => change('destroy', n)} />}
                        </td>
                      </tr>
                    );
                  })}
              </tbody>
            </table>
          </div>
          <MetadataForm mount={mount} path={path} meta={meta.data} onSaved={reload} />
          <ConfirmButton
            label="Delete all versions and metadata"
            onConfirm={() =>
              run(async () => {
                await api.delete(`${mount}metadata/${path}`);
                navigate(href('kv', { mount, path: path.slice(0, path.lastIndexOf('/') + 1) }));
              })
            }
          />
        </section>
      )}
    </Page>
  );
}

/** Values are masked until revealed, one by one; copying does not need revealing. */
function SecretValues({ values }: { values: Record<string, unknown> }) {
  const [shown, setShown] = useState<Set<string>>(new Set());
  const [copied, setCopied] = useState('');
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const keys = Object.keys(values).sort();
  if (keys.length === 0) return <p>This version has no keys.</p>;
  return (
    <>
      <dl class="secret-values">
        {keys.map((k) => (
          <div key={k} class="kv-row">
            <dt>{k}</dt>
            <dd>
              <code data-testid={`value-${k}`}>{shown.has(k) ? text(values[k]) : '••••••••'}</code>
              <button
                type="button"
                aria-pressed={shown.has(k)}
                aria-label={`${shown.has(k) ? 'Hide' : 'Reveal'} ${k}`}
                onClick={() => {
                  const next = new Set(shown);
                  if (next.has(k)) next.delete(k);
                  else next.add(k);
                  setShown(next);
                }}
              >
                {shown.has(k) ? 'Hide' : 'Reveal'}
              </button>
              <button
                type="button"
                aria-label={`Copy ${k}`}
                onClick={() =>
                  void copyText(text(values[k])).then(
                    () => setCopied(`Copied ${k}`),
                    (e: Error) => setCopied(e.message),
                  )
                }
              >
                Copy
              </button>
            </dd>
          </div>
        ))}
      </dl>
      {copied && <p role="status">{copied}</p>}
    </>
  );
}

function MetadataForm({ mount, path, meta, onSaved }: { mount: string; path: string; meta: SecretMeta; onSaved: () => void }) {
  const [maxVersions, setMaxVersions] = useState(String(meta.max_versions));
  const [casRequired, setCasRequired] = useState(meta.cas_required);
  const [deleteAfter, setDeleteAfter] = useState(meta.delete_version_after);
  const [custom, setCustom] = useState(Object.entries(meta.custom_metadata ?? {}).map(([k, v]) => `${k}=${v}`).join('\n'));
  const [run, error, busy] = useAction();
  const [saved, setSaved] = useState(false);
  return (
    <details class="card">
      <summary>Metadata</summary>
      <p>
        Created {fmtTime(meta.created_time)}, updated {fmtTime(meta.updated_time)}; versions {meta.oldest_version}–{meta.current_version}.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const custom_metadata: Record<string, string> = {};
            for (const line of custom.split('\n').map((l) => l.trim()).filter(Boolean)) {
              const eq = line.indexOf('=');
              if (eq < 1) throw new Error(`custom metadata: "${line}" is not key=value`);
              custom_metadata[line.slice(0, eq)] = line.slice(eq + 1);
            }
            await api.post(`${mount}metadata/${path}`, { max_versions: Number(maxVersions), cas_required: casRequired, delete_version_after: deleteAfter, custom_metadata });
            setSaved(true);
            onSaved();
          });
        }}
      >
        <Field label="Maximum versions" type="number" min="0" value={maxVersions} onValue={setMaxVersions} hint="0: the mount's setting." />
        <Checkbox label="Require check-and-set" checked={casRequired} onChecked={setCasRequired} />
        <Field label="Delete versions after" value={deleteAfter} onValue={setDeleteAfter} hint='A duration ("720h"); 0s: never.' />
        <div class="field">
          <label for="kv-custom">Custom metadata (key=value, one a line)</label>
          <textarea id="kv-custom" rows={3} value={custom} onInput={(e) => setCustom((e.target as HTMLTextAreaElement).value)} />
        </div>
        <ErrorBox error={error} />
        {saved && <Notice>Metadata saved.</Notice>}
        <button type="submit" disabled={busy}>
          Save metadata
        </button>
      </form>
    </details>
  );
}

interface Row {
  key: string;
  value: string;
}

/** Create a secret, or write a new version of one: the key/value rows start from the current version. */
function KvEdit({ mount, path, isNew }: { mount: string; path: string; isNew: boolean }) {
  const [secretPath, setSecretPath] = useState(isNew ? path : '');
  const [rows, setRows] = useState<Row[] | undefined>(isNew ? [{ key: '', value: '' }] : undefined);
  const [run, error, busy] = useAction();
  const current = useLoad(async () => {
    if (isNew) return null;
    try {
      const r = await api.get<{ data: SecretData }>(`${mount}data/${path}`);
      setRows(Object.entries(r.data.data ?? {}).map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v) })));
      return r.data;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setRows([{ key: '', value: '' }]);
        return null;
      }
      throw err;
    }
  }, [mount, path, isNew]);
  const set = (i: number, patch: Partial<Row>) => setRows(rows!.map((r, j) => (i === j ? { ...r, ...patch } : r)));
  const target = isNew ? secretPath.trim().replace(/^\/+/, '') : path;

  return (
    <Page title={isNew ? 'Create secret' : `New version of ${path}`}>
      <Crumbs mount={mount} path={isNew ? path : path} />
      <ErrorBox error={current.error} />
      {!rows && <Loading />}
      {rows && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              if (!target || target.endsWith('/')) throw new Error('the path of a secret cannot be empty or end with /');
              const data: Record<string, string> = {};
              for (const r of rows) {
                if (!r.key.trim()) continue;
                if (r.key.trim() in data) throw new Error(`the key "${r.key.trim()}" appears twice`);
                data[r.key.trim()] = r.value;
              }
              const body: Record<string, unknown> = { data };
              if (!isNew && current.data) body.options = { cas: current.data.metadata.version };
              await api.post(`${mount}data/${target}`, body);
              navigate(href('kv', { mount, path: target }));
            });
          }}
        >
          {isNew && <Field label="Path of the secret" value={secretPath} onValue={setSecretPath} required hint="Slashes make folders: app/db." />}
          <fieldset>
            <legend>Keys and values</legend>
            {rows.map((r, i) => (
              <div class="kv-edit-row" key={i}>
                <Field label={`Key ${i + 1}`} value={r.key} onValue={(v) => set(i, { key: v })} autoComplete="off" />
                <Field label={`Value ${i + 1}`} type="password" value={r.value} onValue={(v) => set(i, { value: v })} autoComplete="off" />
                <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))} aria-label={`Remove key ${i + 1}`} disabled={rows.length === 1}>
                  Remove
                </button>
              </div>
            ))}
            <button type="button" onClick={() => setRows([...rows, { key: '', value: '' }])}>
              Add key
            </button>
          </fieldset>
          <ErrorBox error={error} />
          <div class="row">
            <button type="submit" disabled={busy}>
              Save
            </button>
            <a class="button secondary" href={href('kv', { mount, path: isNew ? path : path })}>
              Cancel
            </a>
          </div>
        </form>
      )}
    </Page>
  );
}
