import { useEffect, useState } from 'preact/hooks';
import { api, request, sealStatus, session, type SealStatus } from '../api';
import { ErrorBox, Field, Notice, Page, useAction, useLoad, copyText, Loading } from '../ui';

interface InitResult {
  keys: string[];
  keys_base64: string[];
  root_token: string;
}

/**
 * An uninitialized cluster: choose shares and threshold, then the keys and root token are shown once (they are
 * nowhere else, ever) with a download as JSON. Nothing is kept by the UI.
 */
export function InitPage({ onDone }: { onDone: () => void }) {
  const [shares, setShares] = useState('5');
  const [threshold, setThreshold] = useState('3');
  const [result, setResult] = useState<InitResult | undefined>();
  const [download, setDownload] = useState<string | undefined>();
  const [run, error, busy] = useAction();

  useEffect(() => () => download && URL.revokeObjectURL(download), [download]);

  if (result) {
    return (
      <Page title="Cluster initialized">
        <Notice>
          These unseal keys and the root token are shown <strong>once</strong>. Keep each key with a different person;
          {` ${threshold}`} of them unseal the cluster.
        </Notice>
        <ol class="keys" aria-label="Unseal keys">
          {result.keys_base64.map((k, i) => (
            <li key={k}>
              <code data-testid="unseal-key">{k}</code>{' '}
              <button type="button" onClick={() => void copyText(k)} aria-label={`Copy key ${i + 1}`}>
                Copy
              </button>
            </li>
          ))}
        </ol>
        <p>
          Initial root token: <code data-testid="root-token">{result.root_token}</code>
        </p>
        <p class="row">
          <a class="button" href={download} download="coffer-init.json">
            Download keys
          </a>
          <button type="button" onClick={onDone}>
            Continue to unseal
          </button>
        </p>
      </Page>
    );
  }
  return (
    <Page title="Initialize Coffer">
      <p>This cluster is not initialized yet. Initializing makes its root key, split into key shares.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await request<InitResult>('PUT', 'sys/init', { secret_shares: Number(shares), secret_threshold: Number(threshold) }, { token: null });
            setDownload(URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' })));
            setResult(r);
          });
        }}
      >
        <Field label="Key shares" type="number" min="1" max="255" value={shares} onValue={setShares} required />
        <Field label="Key threshold" type="number" min="1" max="255" value={threshold} onValue={setThreshold} required hint="How many shares unseal the cluster." />
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Initialize
        </button>
      </form>
    </Page>
  );
}

/** A sealed cluster: key shares entered one at a time, with Vault's progress and nonce. */
export function UnsealPage({ status, onChange }: { status: SealStatus; onChange: () => void }) {
  const [key, setKey] = useState('');
  const [progress, setProgress] = useState(status);
  const [run, error, busy] = useAction();
  const submit = (body: object) =>
    run(async () => {
      const s = await request<SealStatus>('PUT', 'sys/unseal', body, { token: null });
      setKey('');
      setProgress(s);
      if (!s.sealed) onChange();
    });
  return (
    <Page title="Unseal Coffer">
      <p>The cluster is sealed. Enter unseal key shares one by one.</p>
      <p role="status" data-testid="unseal-progress">
        Progress: {progress.progress} of {progress.t} keys{progress.nonce ? ` (nonce ${progress.nonce})` : ''}
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit({ key });
        }}
      >
        <Field label="Unseal key share" type="password" autoComplete="off" value={key} onValue={setKey} required />
        <ErrorBox error={error} />
        <div class="row">
          <button type="submit" disabled={busy}>
            Unseal
          </button>
          <button type="button" disabled={busy || progress.progress === 0} onClick={() => void submit({ reset: true })}>
            Start over
          </button>
        </div>
      </form>
    </Page>
  );
}

/** Sealing needs a sudo token (`sys/seal`); the page says what the cluster is, and Vault's error when refused. */
export function SealPage({ onSealed }: { onSealed: () => void }) {
  const status = useLoad(() => sealStatus(), []);
  const health = useLoad(() => request<Record<string, unknown>>('GET', 'sys/health', undefined, { token: null }), []);
  const [run, error, busy] = useAction();
  return (
    <Page title="Seal">
      {status.loading && <Loading />}
      {status.data && (
        <dl class="facts">
          <dt>Sealed</dt>
          <dd>{String(status.data.sealed)}</dd>
          <dt>Key shares / threshold</dt>
          <dd>
            {status.data.n} / {status.data.t}
          </dd>
          <dt>Storage</dt>
          <dd>{status.data.storage_type ?? ''}</dd>
          <dt>Version</dt>
          <dd>{status.data.version}</dd>
          {health.data && (
            <>
              <dt>Cluster</dt>
              <dd>{String(health.data.cluster_name ?? '')}</dd>
            </>
          )}
        </dl>
      )}
      <p>Sealing throws the root key away from memory: nothing can be read until the cluster is unsealed with its key shares.</p>
      <ErrorBox error={error} />
      <button
        type="button"
        class="danger"
        disabled={busy}
        onClick={() =>
          void run(async () => {
            await api.put('sys/seal');
            session.clear();
            onSealed();
          })
        }
      >
        Seal the cluster
      </button>
    </Page>
  );
}
