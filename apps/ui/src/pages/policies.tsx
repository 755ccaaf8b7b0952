import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { href, navigate } from '../router';
import { ConfirmButton, ErrorBox, Field, Loading, Notice, Page, useAction, useLoad } from '../ui';

const TEMPLATE = `# Read the secrets of one app in the KV v2 mount at secret/
path "secret/data/my-app/*" {
  capabilities = ["read", "list"]
}
`;

/** Vault's HCL errors say where: "At 3:1: ...". */
export function errorPosition(message: string): { line: number; column: number } | undefined {
  const m = /At (\d+):(\d+):/.exec(message);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
}

export function PoliciesPage({ name }: { name: string }) {
  if (name) return <PolicyEditor name={name} />;
  return <PolicyList />;
}

function PolicyList() {
  const names = useLoad(() => api.list('sys/policies/acl'), []);
  const [newName, setNewName] = useState('');
  return (
    <Page title="ACL policies">
      <ErrorBox error={names.error} />
      {names.loading && !names.data && <Loading />}
      {names.data && (
        <ul class="listing" aria-label="Policies">
          {names.data.map((n) => (
            <li key={n}>
              <a href={href('policies', { name: n })}>{n}</a>
            </li>
          ))}
        </ul>
      )}
      <form
        class="card"
        aria-label="Create a policy"
        onSubmit={(e) => {
          e.preventDefault();
          if (newName.trim()) navigate(href('policies', { name: newName.trim(), new: '1' }));
        }}
      >
        <h2>Create a policy</h2>
        <Field label="Policy name" value={newName} onValue={setNewName} required spellcheck={false} />
        <button type="submit">Create</button>
      </form>
    </Page>
  );
}

/**
 * The policy's HCL in an editor with line numbers. Saving sends it to the server as it is: the server's parser is the
 * only judge, and its error is shown with the line it names marked and the cursor put there.
 */
function PolicyEditor({ name }: { name: string }) {
  const isNew = new URLSearchParams(location.search).get('new') === '1';
  const [text, setText] = useState<string | undefined>(isNew ? TEMPLATE : undefined);
  const [run, error, busy, setError] = useAction();
  const [saved, setSaved] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const loaded = useLoad(async () => {
    if (isNew) return null;
    const r = await api.get<{ data: { name: string; policy: string } }>(`sys/policies/acl/${name}`);
    setText(r.data.policy);
    return r.data;
  }, [name]);
  const message = error instanceof ApiError ? error.message : error ? String(error) : '';
  const at = message ? errorPosition(message) : undefined;

  useEffect(() => {
    if (!at || !area.current || text === undefined) return;
    const lines = text.split('\n');
    const offset = lines.slice(0, at.line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, at.column - 1);
    area.current.focus();
    area.current.setSelectionRange(offset, offset);
  }, [message]);

  const lineCount = (text ?? '').split('\n').length;
  const readOnly = name === 'root';
  return (
    <Page title={`Policy ${name}`}>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href('policies')}>Policies</a> / {name}
      </nav>
      <ErrorBox error={loaded.error} />
      {text === undefined && !loaded.error && <Loading />}
      {text !== undefined && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setSaved(false);
            void run(async () => {
              await api.put(`sys/policies/acl/${name}`, { policy: text });
              setSaved(true);
              if (isNew) navigate(href('policies', { name }), true);
            });
          }}
        >
          <div class="field">
            <label for="policy-text">Policy (HCL or JSON)</label>
            <div class="editor">
              <div class="gutter" aria-hidden="true" ref={gutter}>
                {Array.from({ length: lineCount }, (_, i) => (
                  <div key={i} class={at?.line === i + 1 ? 'bad' : undefined}>
                    {i + 1}
                  </div>
                ))}
              </div>
              <textarea
                id="policy-text"
                ref={area}
                class="mono"
                rows={Math.max(12, lineCount + 1)}
                spellcheck={false}
                readOnly={readOnly}
                value={text}
                aria-invalid={message ? 'true' : undefined}
                aria-describedby={message ? 'policy-error' : undefined}
                onInput={(e) => {
                  setText((e.target as HTMLTextAreaElement).value);
                  setSaved(false);
                  if (error) setError(undefined);
                }}
                onScroll={(e) => gutter.current && (gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop)}
              />
            </div>
          </div>
          {message && (
            <div class="error" role="alert" id="policy-error">
              <strong>Error{at ? ` at line ${at.line}, column ${at.column}` : ''}:</strong> {message}
            </div>
          )}
          {saved && <Notice>Policy {name} saved.</Notice>}
          {!readOnly && (
            <div class="row">
              <button type="submit" disabled={busy}>
                Save policy
              </button>
              {!isNew && name !== 'default' && (
                <ConfirmButton
                  label={`Delete policy ${name}`}
                  onConfirm={() =>
                    run(async () => {
                      await api.delete(`sys/policies/acl/${name}`);
                      navigate(href('policies'));
                    })
                  }
                />
              )}
            </div>
          )}
        </form>
      )}
    </Page>
  );
}
