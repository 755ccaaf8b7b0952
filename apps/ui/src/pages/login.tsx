import { useState } from 'preact/hooks';
import { request, session, type Envelope } from '../api';
import { ErrorBox, Field, Page, Select, useAction } from '../ui';

type Method = 'token' | 'userpass' | 'approle';

const METHODS: { value: Method; label: string }[] = [
  { value: 'token', label: 'Token' },
  { value: 'userpass', label: 'Username & password' },
  { value: 'approle', label: 'AppRole' },
];

/**
 * As Vault's UI: a method, and for methods other than token the path it is mounted at (its type by default). A
 * token is checked with lookup-self before it is kept; a login's client_token is what is kept.
 */
export function LoginPage({ onLogin }: { onLogin: () => void | Promise<void> }) {
  const [method, setMethod] = useState<Method>('token');
  const [mount, setMount] = useState('');
  const [token, setToken] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [roleId, setRoleId] = useState('');
  const [secretId, setSecretId] = useState('');
  const [run, error, busy] = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      let clientToken: string;
      const at = (mount.trim() || method).replace(/^\/+|\/+$/g, '');
      if (method === 'token') {
        await request('GET', 'auth/token/lookup-self', undefined, { token: token.trim() });
        clientToken = token.trim();
      } else if (method === 'userpass') {
        const r = await request<Envelope>('POST', `auth/${at}/login/${username}`, { password }, { token: null });
        clientToken = r.auth!.client_token;
      } else {
        const r = await request<Envelope>('POST', `auth/${at}/login`, { role_id: roleId, secret_id: secretId }, { token: null });
        clientToken = r.auth!.client_token;
      }
      session.set(clientToken);
      setPassword('');
      setToken('');
      setSecretId('');
      await onLogin();
    });
  };

  return (
    <Page title="Sign in to Coffer">
      <form onSubmit={submit} class="narrow">
        <Select label="Method" value={method} onValue={(v) => setMethod(v as Method)} options={METHODS} />
        {method === 'token' && <Field label="Token" type="password" autoComplete="off" value={token} onValue={setToken} required />}
        {method !== 'token' && <Field label="Mount path" value={mount} onValue={setMount} placeholder={method} hint={`Where the method is enabled; "${method}" when left empty.`} />}
        {method === 'userpass' && (
          <>
            <Field label="Username" autoComplete="username" value={username} onValue={setUsername} required />
            <Field label="Password" type="password" autoComplete="current-password" value={password} onValue={setPassword} required />
          </>
        )}
        {method === 'approle' && (
          <>
            <Field label="Role ID" value={roleId} onValue={setRoleId} required />
            <Field label="Secret ID" type="password" autoComplete="off" value={secretId} onValue={setSecretId} />
          </>
        )}
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </Page>
  );
}
