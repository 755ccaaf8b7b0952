import { useState } from 'preact/hooks';
import { api, request, type Method } from '../api';
import { href } from '../router';
import { ErrorBox, Json, Page, Select, TextArea, useAction, Field } from '../ui';

const OPERATIONS: { value: Method; label: string }[] = [
  { value: 'GET', label: 'Read (GET)' },
  { value: 'LIST', label: 'List (LIST)' },
  { value: 'PUT', label: 'Write (PUT)' },
  { value: 'PATCH', label: 'Patch (PATCH)' },
  { value: 'DELETE', label: 'Delete (DELETE)' },
];

/**
 * Any path of any mount, as the CLI's `read`/`write`/`list`/`delete` do, with the help text the plugin gives for
 * the path (`?help=1`). For plugins the UI knows nothing about, this is the whole UI.
 */
export function RequestPage({ mount, path: initialPath }: { mount: string; path: string }) {
  const [path, setPath] = useState(mount ? `${mount.replace(/\/*$/, '/')}${initialPath}` : initialPath);
  const [method, setMethod] = useState<Method>('GET');
  const [body, setBody] = useState('{\n  \n}');
  const [result, setResult] = useState<unknown>(undefined);
  const [help, setHelp] = useState<string | undefined>();
  const [run, error, busy, setError] = useAction();
  const [helpError, setHelpError] = useState<unknown>();

  const send = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setResult(undefined);
      let data: unknown;
      if (method === 'PUT' || method === 'PATCH') {
        try {
          data = body.trim() ? JSON.parse(body) : {};
        } catch (err) {
          setError(`the request body is not JSON: ${(err as Error).message}`);
          return;
        }
      }
      const r = await request(method, path.trim(), data);
      setResult(r === null ? 'Success (no content)' : r);
    });
  };
  const loadHelp = async () => {
    setHelpError(undefined);
    try {
      setHelp(await api.help(path.trim()));
    } catch (err) {
      setHelp(undefined);
      setHelpError(err);
    }
  };

  return (
    <Page title={mount ? `Requests to ${mount}` : 'Request'}>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href('secrets')}>Secrets engines</a>
        {mount && ` / ${mount}`}
      </nav>
      <form onSubmit={send}>
        <Field label="Path" value={path} onValue={setPath} required hint="Under /v1/, e.g. mock/kv/foo." spellcheck={false} />
        <Select label="Operation" value={method} onValue={(v) => setMethod(v as Method)} options={OPERATIONS} />
        {(method === 'PUT' || method === 'PATCH') && <TextArea label="Request data (JSON)" value={body} onValue={setBody} rows={6} spellcheck={false} class="mono" />}
        <div class="row">
          <button type="submit" disabled={busy || !path.trim()}>
            Send
          </button>
          <button type="button" onClick={() => void loadHelp()} disabled={!path.trim()}>
            Path help
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {result !== undefined && (
        <section aria-labelledby="req-result">
          <h2 id="req-result">Response</h2>
          <Json value={result} label="Response" />
        </section>
      )}
      <ErrorBox error={helpError} />
      {help !== undefined && (
        <section aria-labelledby="req-help">
          <h2 id="req-help">Help for {path}</h2>
          <pre class="help" tabIndex={0} data-testid="path-help">
            {help || 'The plugin gives no help for this path.'}
          </pre>
        </section>
      )}
    </Page>
  );
}
