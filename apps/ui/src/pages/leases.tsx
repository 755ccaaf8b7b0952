import { useState } from 'preact/hooks';
import { api, type Envelope } from '../api';
import { href, navigate } from '../router';
import { ConfirmButton, ErrorBox, Field, Json, Loading, Notice, Page, fmtTime, useAction, useLoad } from '../ui';

interface LeaseInfo {
  id: string;
  issue_time: string;
  expire_time: string;
  last_renewal: string | null;
  renewable: boolean;
  ttl: number;
}

/**
 * Leases, by prefix as Vault's UI does: one level of names under the prefix (LIST `sys/leases/lookup/<prefix>`,
 * sudo), a lease's facts (`sys/leases/lookup`), renew and revoke it, or revoke everything under the prefix.
 */
export function LeasesPage({ prefix, lease }: { prefix: string; lease: string }) {
  const keys = useLoad(() => (prefix ? api.list(`sys/leases/lookup/${prefix}`) : api.list('sys/leases/lookup')), [prefix]);
  const [revoked, setRevoked] = useState('');
  const [run, error] = useAction();
  const parts = prefix.split('/').filter(Boolean);
  return (
    <Page title="Leases">
      <nav class="crumbs" aria-label="Lease prefix">
        <a href={href('leases')}>all leases</a>
        {parts.map((p, i) => (
          <span key={i}>
            {' / '}
            <a href={href('leases', { prefix: `${parts.slice(0, i + 1).join('/')}/` })}>{p}</a>
          </span>
        ))}
      </nav>
      <GoTo key={prefix} prefix={prefix} />
      <ErrorBox error={keys.error ?? error} />
      {revoked && <Notice>{revoked}</Notice>}
      {keys.loading && !keys.data && <Loading what="the leases" />}
      {keys.data && keys.data.length === 0 && <p>No leases {prefix ? `under ${prefix}` : 'at all'}.</p>}
      {keys.data && keys.data.length > 0 && (
        <ul class="listing" aria-label={prefix ? `Leases under ${prefix}` : 'Leases'}>
          {keys.data.map((k) => (
            <li key={k}>
              {k.endsWith('/') ? <a href={href('leases', { prefix: prefix + k })}>{k}</a> : <a href={href('leases', { prefix, lease: prefix + k })}>{k}</a>}
            </li>
          ))}
        </ul>
      )}
      {prefix && (
        <div class="row">
          <ConfirmButton
            label={`Revoke every lease under ${prefix}`}
            onConfirm={() =>
              run(async () => {
                await api.put(`sys/leases/revoke-prefix/${prefix}`);
                setRevoked(`Revoked every lease under ${prefix}.`);
                keys.reload();
              })
            }
          />
        </div>
      )}
      {lease && (
        <LeaseCard
          key={lease}
          id={lease}
          onRevoked={() => {
            setRevoked(`Revoked ${lease}.`);
            navigate(href('leases', { prefix }), true);
            keys.reload();
          }}
        />
      )}
    </Page>
  );
}

/** Type a prefix or a lease id instead of clicking through the folders. */
function GoTo({ prefix }: { prefix: string }) {
  const [value, setValue] = useState(prefix);
  return (
    <form
      class="row"
      aria-label="Go to a prefix or a lease"
      onSubmit={(e) => {
        e.preventDefault();
        const v = value.trim().replace(/^\/+/, '');
        if (!v || v.endsWith('/')) navigate(href('leases', { prefix: v || undefined }));
        else navigate(href('leases', { prefix: v.slice(0, v.lastIndexOf('/') + 1) || undefined, lease: v }));
      }}
    >
      <Field label="Prefix or lease ID" value={value} onValue={setValue} placeholder="mock/creds/" hint="A prefix ends with /; anything else is looked up as one lease." spellcheck={false} autoComplete="off" />
      <button type="submit">Go</button>
    </form>
  );
}

function LeaseCard({ id, onRevoked }: { id: string; onRevoked: () => void }) {
  const info = useLoad(async () => (await api.put<Envelope<LeaseInfo>>('sys/leases/lookup', { lease_id: id })).data, [id]);
  const [increment, setIncrement] = useState('');
  const [renewed, setRenewed] = useState<unknown>();
  const [run, error, busy] = useAction();
  const l = info.data;
  return (
    <section class="card" aria-label={`Lease ${id}`}>
      <h2>
        Lease <code>{id}</code>
      </h2>
      <ErrorBox error={info.error ?? error} />
      {info.loading && !l && <Loading what="the lease" />}
      {l && (
        <dl class="facts" data-testid="lease-facts">
          <dt>Issued</dt>
          <dd>{fmtTime(l.issue_time)}</dd>
          <dt>Expires</dt>
          <dd>{fmtTime(l.expire_time)}</dd>
          <dt>Last renewal</dt>
          <dd data-testid="lease-last-renewal">{l.last_renewal ? fmtTime(l.last_renewal) : 'never'}</dd>
          <dt>TTL</dt>
          <dd data-testid="lease-ttl">{l.ttl} s</dd>
          <dt>Renewable</dt>
          <dd>{l.renewable ? 'yes' : 'no'}</dd>
        </dl>
      )}
      <form
        class="row"
        aria-label="Renew the lease"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const body: Record<string, unknown> = { lease_id: id };
            if (increment.trim()) body.increment = increment.trim();
            const r = await api.put<Envelope>('sys/leases/renew', body);
            setRenewed({ lease_id: r.lease_id, lease_duration: r.lease_duration, renewable: r.renewable, warnings: r.warnings });
            info.reload();
          });
        }}
      >
        <Field label="Increment" value={increment} onValue={setIncrement} placeholder="the lease's TTL" hint='A duration ("1h") or seconds; the plugin and the max TTL may give less.' />
        <button type="submit" disabled={busy || (l && !l.renewable)}>
          Renew
        </button>
        <ConfirmButton
          label="Revoke this lease"
          onConfirm={() =>
            run(async () => {
              await api.put('sys/leases/revoke', { lease_id: id });
              onRevoked();
            })
          }
        />
      </form>
      {renewed !== undefined && (
        <Notice>
          <p>Renewed.</p>
          <Json value={renewed} label="Renewal" />
        </Notice>
      )}
    </section>
  );
}
