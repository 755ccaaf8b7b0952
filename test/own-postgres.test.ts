/**
 * The tests' own PostgreSQL cluster (test/support/own-postgres.ts): with scram-sha-256 a wrong password is
 * refused, which the machine's trusting cluster cannot show, and it stops and starts again under a client.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { OwnPostgres } from './support/own-postgres.js';

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('a Postgres cluster of the test\'s own, with scram-sha-256', () => {
  let server: OwnPostgres;
  before(async () => {
    server = await OwnPostgres.start({ auth: 'scram-sha-256', superPassword: 'right-one' });
  });
  after(async () => {
    await server?.destroy();
  });

  it('accepts the superuser with its password and refuses a wrong one', async () => {
    assert.deepEqual(await query(server.url(), 'SELECT 1 AS one'), [{ one: 1 }]);
    await assert.rejects(query(server.url('postgres', 'postgres', 'wrong-one'), 'SELECT 1'), /password authentication failed/);
  });

  it('keeps its data across a stop and a start', async () => {
    await query(server.url(), 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'x\')');
    await server.stop('kill');
    await assert.rejects(query(server.url(), 'SELECT 1'));
    await server.restart();
    assert.deepEqual(await query(server.url(), 'SELECT v FROM kept'), [{ v: 'x' }]);
  });
});
