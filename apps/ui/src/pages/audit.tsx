import { useState } from 'preact/hooks';
import { api } from '../api';
import { ConfirmButton, ErrorBox, Field, Loading, Notice, Page, useAction, useLoad, TableHead } from '../ui';

interface AuditDevice {
  type: string;
  description: string;
  options: Record<string, string> | null;
  local: boolean;
  path: string;
}

/** Audit devices (`sys/audit`, sudo): the list with their options, enable a file device, disable one. */
export function AuditPage() {
  const devices = useLoad(async () => {
    const r = await api.get<{ data: Record<string, AuditDevice> }>('sys/audit');
    return Object.entries(r.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  }, []);
  const [run, error] = useAction();
  const [done, setDone] = useState('');
  return (
    <Page title="Audit devices">
      <ErrorBox error={devices.error ?? error} />
      {done && <Notice>{done}</Notice>}
      {devices.loading && !devices.data && <Loading what="the audit devices" />}
      {devices.data && devices.data.length === 0 && <p>No audit device is enabled: requests are not audited.</p>}
      {devices.data && devices.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Audit devices</caption>
            <TableHead columns={['Path', 'Type', 'Description', 'Options']} actions />
            <tbody>
              {devices.data.map(([path, d]) => (
                <tr key={path} data-device={path}>
                  <th scope="row">{path}</th>
                  <td>{d.type}</td>
                  <td>{d.description}</td>
                  <td>
                    {Object.entries(d.options ?? {}).map(([k, v]) => (
                      <div key={k}>
                        <code>
                          {k}={v}
                        </code>
                      </div>
                    ))}
                  </td>
                  <td class="actions">
                    <ConfirmButton
                      label={`Disable ${path}`}
                      onConfirm={() =>
                        run(async () => {
                          await api.delete(`sys/audit/${path}`);
                          setDone(`Disabled the audit device ${path}.`);
                          devices.reload();
                        })
                      }
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <EnableFile
        onEnabled={(path) => {
          setDone(`Enabled a file audit device at ${path}.`);
          devices.reload();
        }}
      />
    </Page>
  );
}

function EnableFile({ onEnabled }: { onEnabled: (path: string) => void }) {
  const [path, setPath] = useState('file');
  const [filePath, setFilePath] = useState('');
  const [description, setDescription] = useState('');
  const [run, error, busy] = useAction();
  return (
    <form
      class="card"
      aria-label="Enable a file audit device"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const p = path.trim().replace(/^\/+|\/+$/g, '');
          await api.put(`sys/audit/${p}`, { type: 'file', description: description.trim(), options: { file_path: filePath.trim() } });
          onEnabled(`${p}/`);
        });
      }}
    >
      <h2>Enable a file audit device</h2>
      <Field label="Device path" value={path} onValue={setPath} required spellcheck={false} />
      <Field label="File path" value={filePath} onValue={setFilePath} required placeholder="/var/log/coffer/audit.log" hint="An absolute path on every gateway's host, or stdout." spellcheck={false} />
      <Field label="Description" value={description} onValue={setDescription} />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        Enable device
      </button>
    </form>
  );
}
