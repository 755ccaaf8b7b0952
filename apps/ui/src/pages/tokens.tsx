import { useState } from 'preact/hooks';
import { api, session, type Envelope } from '../api';
import type { Self } from '../app';
import { Checkbox, ConfirmButton, ErrorBox, Field, Json, Notice, Page, useAction, copyText } from '../ui';

const list = (s: string) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

/** Tokens: create one (shown once), look one up by its accessor, revoke by accessor. */
export function TokensPage({ self }: { self: Self }) {
  return (
    <Page title="Tokens">
      <p>
        You are signed in as <strong>{self.display_name || 'a token'}</strong> with the policies {self.policies.join(', ')}; your token's accessor is{' '}
        <code>{self.accessor}</code>.
      </p>
      <CreateToken />
      <ByAccessor />
    </Page>
  );
}

function CreateToken() {
  const [policies, setPolicies] = useState('');
  const [ttl, setTtl] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [numUses, setNumUses] = useState('');
  const [orphan, setOrphan] = useState(false);
  const [renewable, setRenewable] = useState(true);
  const [noDefault, setNoDefault] = useState(false);
  const [created, setCreated] = useState<{ token: string; accessor: string; policies: string[]; ttl: number } | undefined>();
  const [run, error, busy] = useAction();
  return (
    <form
      class="card"
      aria-label="Create a token"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          setCreated(undefined);
          const body: Record<string, unknown> = { policies: list(policies), renewable, no_default_policy: noDefault };
          if (ttl.trim()) body.ttl = ttl.trim();
          if (displayName.trim()) body.display_name = displayName.trim();
          if (numUses.trim()) body.num_uses = Number(numUses);
          const r = await api.post<Envelope>(orphan ? 'auth/token/create-orphan' : 'auth/token/create', body);
          const a = r.auth!;
          setCreated({ token: a.client_token, accessor: a.accessor, policies: a.policies, ttl: a.lease_duration });
        });
      }}
    >
      <h2>Create a token</h2>
      <Field label="Policies" value={policies} onValue={setPolicies} hint="Comma separated; the default policy is added unless you say otherwise." spellcheck={false} />
      <Field label="TTL" value={ttl} onValue={setTtl} placeholder="the mount's default" hint='A duration ("1h") or seconds.' />
      <Field label="Display name" value={displayName} onValue={setDisplayName} />
      <Field label="Number of uses" type="number" min="0" value={numUses} onValue={setNumUses} placeholder="unlimited" />
      <Checkbox label="Renewable" checked={renewable} onChecked={setRenewable} />
      <Checkbox label="Without the default policy" checked={noDefault} onChecked={setNoDefault} />
      <Checkbox label="Orphan (no parent: outlives this token)" checked={orphan} onChecked={setOrphan} />
      <ErrorBox error={error} />
      {created && (
        <Notice>
          <p>
            The new token is shown once: <code data-testid="new-token">{created.token}</code>{' '}
            <button type="button" onClick={() => void copyText(created.token)}>
              Copy token
            </button>
          </p>
          <p>
            Accessor <code data-testid="new-accessor">{created.accessor}</code>; policies {created.policies.join(', ')}; TTL {created.ttl} s.
          </p>
          <button
            type="button"
            onClick={() => {
              session.set(created.token);
              location.assign('/ui/secrets');
            }}
          >
            Sign in with the new token
          </button>
        </Notice>
      )}
      <button type="submit" disabled={busy}>
        Create token
      </button>
    </form>
  );
}

function ByAccessor() {
  const [accessor, setAccessor] = useState('');
  const [found, setFound] = useState<unknown>();
  const [revoked, setRevoked] = useState('');
  const [run, error, busy] = useAction();
  return (
    <form
      class="card"
      aria-label="Look up a token by accessor"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          setRevoked('');
          setFound((await api.post<Envelope>('auth/token/lookup-accessor', { accessor: accessor.trim() })).data);
        });
      }}
    >
      <h2>Look up or revoke by accessor</h2>
      <Field label="Accessor" value={accessor} onValue={setAccessor} required spellcheck={false} autoComplete="off" />
      <div class="row">
        <button type="submit" disabled={busy}>
          Look up
        </button>
        <ConfirmButton
          label="Revoke this token"
          disabled={!accessor.trim()}
          onConfirm={() =>
            run(async () => {
              await api.post('auth/token/revoke-accessor', { accessor: accessor.trim() });
              setFound(undefined);
              setRevoked(`Revoked the token with accessor ${accessor.trim()} and its children.`);
            })
          }
        />
      </div>
      <ErrorBox error={error} />
      {revoked && <Notice>{revoked}</Notice>}
      {found !== undefined && <Json value={found} label="Token" />}
    </form>
  );
}
