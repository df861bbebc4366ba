import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedDatabaseUrl } from '../../mikro-orm.config.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embedded-postgres.ts';
import { initOrm } from '../src/db/orm.ts';
import { client, createDrop, createUser, startTestApp, addToWaitlist, type TestApp } from './support/app.ts';
import { freePort } from './support/global-setup.ts';
import { closeSockets, connect, connected, next, request } from './support/sockets.ts';

/** Its own PostgreSQL, so stopping it mid-test leaves every other test file alone. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-outage-'));
chmodSync(dir, 0o755);
let pg: EmbeddedDatabase | undefined;
let app: TestApp | undefined;
afterAll(async () => {
  closeSockets();
  await app?.close().catch(() => undefined);
  await pg?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('database restart mid-run', () => {
  it('answers 503 with Retry-After while PostgreSQL is down, tells sockets, and recovers alone', async () => {
    const port = await freePort();
    pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port, persistent: true });
    const url = embeddedDatabaseUrl(port);
    await (await initOrm(url, { logger: () => {} })).close();
    app = await startTestApp({ DATABASE_URL: url }, { databaseCheckMs: 200 });
    const api = client(app.baseUrl);
    const drop = await createDrop(app, { totalSlots: 5 });
    const user = await createUser(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drop.id });

    const down = next(watcher, 'server:status', (s: any) => s.database === 'down', 10_000);
    await pg.stop();
    await down;
    // Past the 250 ms a drop page's public view may be served from memory.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const [method, route] of [['GET', `/api/drops/${drop.id}`], ['POST', `/api/drops/${drop.id}/claim`], ['GET', '/readyz']] as const) {
      const started = Date.now();
      const res = await api(method, route, { token: user.token });
      expect(res.status, `${method} ${route}: ${JSON.stringify(res.body)}`).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(8000);
    }
    const ack = await request(watcher, 'drop:watch', { dropId: drop.id });
    expect(ack).toMatchObject({ ok: false, code: 'SERVICE_UNAVAILABLE' });

    const up = next(watcher, 'server:status', (s: any) => s.database === 'up', 20_000);
    pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port, persistent: true });
    await up;
    expect((await api('GET', '/readyz')).status).toBe(200);
    const claimed = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(claimed.status).toBe(201);
    const resync = await request(watcher, 'drop:watch', { dropId: drop.id });
    expect(resync.ok && resync.data.drop.remaining).toBe(4);
  });
});
