import { useCallback, useEffect, useErrorBoundary, useState } from 'preact/hooks';
import { api, sealStatus, session, whenSealed, whenTokenRejected, type SealStatus } from './api';
import { href, navigate, onLinkClick, useRoute } from './router';
import { ErrorBox, Loading } from './ui';
import { InitPage, SealPage, UnsealPage } from './pages/seal';
import { LoginPage } from './pages/login';
import { SecretsPage } from './pages/secrets';
import { KvPage } from './pages/kv';
import { RequestPage } from './pages/request';
import { PluginsPage } from './pages/plugins';
import { PoliciesPage } from './pages/policies';
import { TokensPage } from './pages/tokens';
import { AuthMethodsPage } from './pages/auth-methods';
import { LeasesPage } from './pages/leases';
import { AuditPage } from './pages/audit';
import { ClusterPage } from './pages/cluster';

export interface Self {
  display_name: string;
  policies: string[];
  accessor: string;
  ttl: number;
}

const NAV: [page: string, label: string][] = [
  ['secrets', 'Secrets engines'],
  ['plugins', 'Plugins'],
  ['access', 'Auth methods'],
  ['policies', 'Policies'],
  ['tokens', 'Tokens'],
  ['leases', 'Leases'],
  ['audit', 'Audit devices'],
  ['cluster', 'Cluster'],
  ['request', 'Request'],
  ['seal', 'Seal'],
];

/**
 * What the UI shows depends on the cluster first: init when it is uninitialized, unseal when sealed, login without a
 * token, and the pages once logged in. A request answered "Vault is sealed" sends it back to the check.
 */
export function App() {
  const [status, setStatus] = useState<SealStatus | undefined>();
  const [statusError, setStatusError] = useState<unknown>();
  const [self, setSelf] = useState<Self | null | undefined>(undefined);
  const route = useRoute();

  const check = useCallback(async () => {
    try {
      const s = await sealStatus();
      setStatus(s);
      setStatusError(undefined);
      if (s.initialized && !s.sealed && session.token()) {
        try {
          const r = await api.get<{ data: Self }>('auth/token/lookup-self');
          setSelf(r.data);
        } catch {
          session.clear();
          setSelf(null);
        }
      } else if (!session.token()) setSelf(null);
    } catch (err) {
      setStatusError(err);
    }
  }, []);

  useEffect(() => {
    void check();
    const unsubscribeSealed = whenSealed(() => void check());
    const unsubscribeRejected = whenTokenRejected(() => {
      session.clear();
      setSelf(null);
    });
    return () => {
      unsubscribeSealed();
      unsubscribeRejected();
    };
  }, [check]);

  useEffect(() => {
    document.addEventListener('click', onLinkClick);
    return () => document.removeEventListener('click', onLinkClick);
  }, []);

  if (statusError) {
    return (
      <Shell>
        <h1>Coffer</h1>
        <ErrorBox error={statusError} />
        <button type="button" onClick={() => void check()}>
          Try again
        </button>
      </Shell>
    );
  }
  if (!status) return <Loading what="the cluster's state" />;
  if (!status.initialized) return <Shell><InitPage onDone={check} /></Shell>;
  if (status.sealed) return <Shell><UnsealPage status={status} onChange={check} /></Shell>;
  if (session.token() && self === undefined) return <Loading what="your token" />;
  if (!session.token() || !self) {
    return (
      <Shell>
        <LoginPage
          onLogin={async () => {
            await check();
            if (!route.page) navigate(href('secrets'), true);
          }}
        />
      </Shell>
    );
  }

  const logout = () => {
    session.clear();
    setSelf(null);
  };
  return (
    <Shell
      self={self}
      onLogout={logout}
      nav={
        <nav aria-label="Main">
          <ul>
            {NAV.map(([page, label]) => (
              <li key={page}>
                <a href={href(page)} aria-current={current(route.page) === page ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      }
    >
      <Guard key={route.page}>
        <Pages page={route.page} params={route.params} onSealed={check} self={self} />
      </Guard>
    </Shell>
  );
}

/** A page that fails to render shows what failed, never a blank page; another page starts afresh (the key). */
function Guard({ children }: { children: preact.ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return (
      <section class="page">
        <h1 tabIndex={-1}>Something went wrong</h1>
        <ErrorBox error={error} />
        <button type="button" onClick={reset}>
          Try again
        </button>
      </section>
    );
  }
  return <>{children}</>;
}

/** A secret's or a generic mount's page is under "Secrets engines" in the menu. */
function current(page: string): string {
  if (page === 'kv') return 'secrets';
  return page || 'secrets';
}

function Pages({ page, params, onSealed, self }: { page: string; params: URLSearchParams; onSealed: () => void; self: Self }) {
  switch (page) {
    case '':
    case 'secrets':
      return <SecretsPage />;
    case 'kv':
      return <KvPage mount={params.get('mount') ?? ''} path={params.get('path') ?? ''} mode={params.get('mode') ?? ''} />;
    case 'request':
      return <RequestPage mount={params.get('mount') ?? ''} path={params.get('path') ?? ''} />;
    case 'plugins':
      return <PluginsPage />;
    case 'access':
      return <AuthMethodsPage />;
    case 'policies':
      return <PoliciesPage name={params.get('name') ?? ''} />;
    case 'tokens':
      return <TokensPage self={self} />;
    case 'leases':
      return <LeasesPage prefix={params.get('prefix') ?? ''} lease={params.get('lease') ?? ''} />;
    case 'audit':
      return <AuditPage />;
    case 'cluster':
      return <ClusterPage />;
    case 'seal':
      return <SealPage onSealed={onSealed} />;
    default:
      return (
        <section class="page">
          <h1 tabIndex={-1}>Not found</h1>
          <p>
            There is no page <code>{page}</code>. <a href={href('secrets')}>Go to the secrets engines.</a>
          </p>
        </section>
      );
  }
}

function Shell({ children, nav, self, onLogout }: { children: preact.ComponentChildren; nav?: preact.ComponentChildren; self?: Self; onLogout?: () => void }) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('secrets')}>
          Coffer
        </a>
        {nav}
        {self && (
          <div class="who">
            <span title={`accessor ${self.accessor}`}>
              {self.display_name || 'token'} ({self.policies.join(', ')})
            </span>
            <button type="button" onClick={onLogout}>
              Log out
            </button>
          </div>
        )}
      </header>
      <main id="main">{children}</main>
    </>
  );
}
