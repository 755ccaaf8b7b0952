import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, formatReadable, setLogLevel } from './logger.js';

function collector(): { lines: Record<string, unknown>[]; write(s: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) };
}

describe('logger', () => {
  it('hides secrets by field name but keeps config key names (`key`, `keys`)', () => {
    const out = collector();
    const log = createLogger('t', 'info', { format: 'json', destination: out });
    log.warn({ keys: ['listener.tcp[0].address'], key: 'max_lease_ttl' }, 'config changed on disk but needs a restart');
    log.info({ token: 's.abc', password: 'hunter2', nested: { client_token: 'x', connection_url: 'postgres://u:p@h/d' } }, 'secrets');
    assert.deepEqual(out.lines[0]!.keys, ['listener.tcp[0].address']);
    assert.equal(out.lines[0]!.key, 'max_lease_ttl');
    const text = JSON.stringify(out.lines[1]);
    for (const secret of ['s.abc', 'hunter2', 'postgres://u:p@h/d', '"x"']) assert.ok(!text.includes(secret), text);
  });

  it('a level set on one logger of a family reaches every child and grandchild made before or after', () => {
    const out = collector();
    const root = createLogger('t', 'info', { format: 'json', destination: out });
    const child = root.child({ process: 'p' });
    const grandchild = child.child({ service: 'gateway' });
    grandchild.debug('hidden');
    setLogLevel(child, 'debug');
    grandchild.debug('shown');
    child.child({ service: 'catalog' }).debug('shown too');
    assert.deepEqual(out.lines.map((l) => l.msg), ['shown', 'shown too']);
  });

  it('readable lines carry time, level, service, one message and the fields', () => {
    const line = formatReadable(JSON.stringify({ level: 30, time: 0, pid: 1, service: 'gateway', msg: 'gateway listening', address: '127.0.0.1:8200', n: 2 }));
    assert.equal(line, '1970-01-01T00:00:00.000Z [INFO]  gateway: gateway listening: address=127.0.0.1:8200 n=2\n');
  });
});
