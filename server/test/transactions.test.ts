import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeOrm, initOrm, type Orm } from '../src/db/orm.ts';
import { transaction } from '../src/db/transaction.ts';
import { problemHandler } from '../src/http/problem.ts';
import { client, testDatabaseUrl } from './support/app.ts';

/**
 * The shared transaction helper and the error mapping behind every route, on real PostgreSQL and
 * real HTTP. PostgreSQL raises the SQLSTATEs itself (`raise … using errcode`), exactly as it
 * reports a deadlock, a serialization failure or a server that is starting up.
 */
let orm: Orm;
let server: ReturnType<typeof express.application.listen>;
let api: ReturnType<typeof client>;
const raise = (sqlState: string) => `do $$ begin raise exception 'raised by the test' using errcode = '${sqlState}'; end $$`;
let attempts = 0;

beforeAll(async () => {
  orm = await initOrm(await testDatabaseUrl(), { logger: () => {} });
  const app = express();
  app.use(pinoHttp({ logger: pino({ level: 'silent' }) }));
  // A unit of work that PostgreSQL aborts every time with the SQLSTATE named in the path.
  app.post('/always/:sqlState', async (req, res) => {
    attempts = 0;
    await transaction(orm, async (em) => {
      attempts += 1;
      await em.execute(raise(req.params.sqlState));
    });
    res.json({ ok: true });
  });
  server = app.use(problemHandler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  api = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  server.close();
  await closeOrm(orm);
});

describe('transaction(): deadlocks and serialization failures are retried inside the server', () => {
  it('runs the whole unit of work again on a fresh fork; only the attempt that commits leaves rows', async () => {
    const marker = `retry-${Date.now()}-${Math.random()}`;
    let tries = 0;
    const forks = new Set<unknown>();
    const result = await transaction(orm, async (em) => {
      tries += 1;
      forks.add(em);
      await em.execute(`insert into "audit_log" (at, action, details) values (now(), 'drop.update', ?)`, [JSON.stringify({ marker, tries })]);
      if (tries === 1) await em.execute(raise('40P01'));
      if (tries === 2) await em.execute(raise('40001'));
      return tries;
    });
    expect(result).toBe(3);
    expect(forks.size).toBe(3);
    const rows = await orm.em.fork().execute<{ details: { tries: number } }[]>(`select details from "audit_log" where details->>'marker' = ?`, [marker]);
    expect(rows.map((r) => r.details.tries)).toEqual([3]);
  });

  it('a conflict that does not go away: a bounded number of attempts, then 503 SERVICE_UNAVAILABLE with Retry-After, never 500', async () => {
    for (const sqlState of ['40P01', '40001']) {
      const res = await api('POST', `/always/${sqlState}`);
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(attempts).toBeGreaterThan(1);
      expect(attempts).toBeLessThanOrEqual(10);
    }
  });

  it('other errors are not retried', async () => {
    const res = await api('POST', '/always/22012');
    expect(res.status).toBe(500);
    expect(attempts).toBe(1);
  });
});

describe('a lock that is not granted in time is load, not a bug', () => {
  it('55P03 (lock_not_available: `set local lock_timeout` ran out) answers 503 SERVICE_UNAVAILABLE with Retry-After, without a retry', async () => {
    const res = await api('POST', '/always/55P03');
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    // It already waited out its lock timeout: asking again at once would only wait again.
    expect(attempts).toBe(1);
  });
});

describe('a database that is starting up, shutting down or unreachable is unavailable, not a bug', () => {
  it('57P03, 57P01, 57P02 and connection exceptions (08xxx) answer 503 SERVICE_UNAVAILABLE with Retry-After', async () => {
    for (const sqlState of ['57P03', '57P01', '57P02', '08006', '08001']) {
      const res = await api('POST', `/always/${sqlState}`);
      expect(res.status, `${sqlState}: ${JSON.stringify(res.body)}`).toBe(503);
      expect(res.body.code).toBe('SERVICE_UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});
