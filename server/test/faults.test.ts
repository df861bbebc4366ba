import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { TEST_SECRET, addToWaitlist, createDrop, createUsers, startTestApp, testDatabaseUrl } from './support/app.ts';

/** The real entry point (`npm start`) as its own process on the test database. */
function startServer(databaseUrl: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = spawn(process.execPath, [path.join(ROOT_DIR, 'server/src/main.ts')], {
    cwd: ROOT_DIR,
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, JWT_ACCESS_SECRET: TEST_SECRET, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', RATE_LIMIT_CLAIM_PER_MINUTE: '1000000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`not ready:\n${out}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)".*DropSpot is ready/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, baseUrl: match[1]!.replace('localhost', '127.0.0.1') });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

const running: ChildProcess[] = [];
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

describe('server killed mid-storm (SIGKILL), then restarted', () => {
  it('keeps every acknowledged claim, the counter equals the claims, no code twice, and idempotent retries get the original claim', async () => {
    const seeding = await startTestApp();
    const drop = await createDrop(seeding, { totalSlots: 300 });
    const users = await createUsers(seeding, 1000);
    await addToWaitlist(seeding, drop.id, users.map((u) => u.id));
    await seeding.close();
    const databaseUrl = await testDatabaseUrl();

    const first = await startServer(databaseUrl);
    running.push(first.child);
    const acknowledged = new Map<string, string>();
    const pool = new Pool(first.baseUrl, { connections: 100 });
    const queue = [...users];
    let killed = false;
    const storm = Promise.all(
      Array.from({ length: 100 }, async () => {
        for (let u = queue.pop(); u && !killed; u = queue.pop()) {
          try {
            const res = await pool.request({ method: 'POST', path: `/api/drops/${drop.id}/claim`, headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': `k-${u.id}` } });
            const body = (await res.body.json()) as { claim?: { code: string } };
            if ((res.statusCode === 201 || res.statusCode === 200) && body.claim) acknowledged.set(u.id, body.claim.code);
          } catch {
            // the server died under this request: no answer, nothing acknowledged
          }
        }
      }),
    );
    // Kill it hard once the storm is under way and some claims are acknowledged.
    while (acknowledged.size < 50) await new Promise((resolve) => setTimeout(resolve, 5));
    first.child.kill('SIGKILL');
    killed = true;
    await storm;
    await pool.destroy();
    expect(acknowledged.size).toBeGreaterThanOrEqual(50);

    const second = await startServer(databaseUrl);
    running.push(second.child);
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ user_id: string; code: string }>('select user_id, code from "claim" where drop_id = $1', [drop.id]);
      const stored = new Map(rows.map((r) => [r.user_id, r.code]));
      for (const [userId, code] of acknowledged) expect(stored.get(userId)).toBe(code);
      expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length);
      const [counter] = (await client.query<{ claimed: number }>('select claimed from "drop" where id = $1', [drop.id])).rows;
      expect(counter!.claimed).toBe(rows.length);

      // Everyone retries with their key: the acknowledged get their original claim, and the
      // storm then finishes exactly at the slots.
      const retryPool = new Pool(second.baseUrl, { connections: 50 });
      const answers = await Promise.all(
        users.map(async (u) => {
          const res = await retryPool.request({ method: 'POST', path: `/api/drops/${drop.id}/claim`, headers: { authorization: `Bearer ${u.token}`, 'idempotency-key': `k-${u.id}` } });
          return { user: u.id, status: res.statusCode, body: (await res.body.json()) as { code?: string; claim?: { code: string } } };
        }),
      );
      await retryPool.close();
      for (const answer of answers) {
        const original = acknowledged.get(answer.user);
        if (original) expect(answer.body.claim?.code).toBe(original);
        expect([200, 201, 409]).toContain(answer.status);
      }
      const final = await client.query<{ n: number; codes: number; claimed: number }>(
        'select count(*)::int n, count(distinct code)::int codes, (select claimed from "drop" where id = $1) claimed from "claim" where drop_id = $1',
        [drop.id],
      );
      expect(final.rows[0]).toEqual({ n: 300, codes: 300, claimed: 300 });
    } finally {
      await client.end();
      second.child.kill('SIGTERM');
    }
  });
});
