import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeOrm, initOrm } from '../src/db/orm.ts';
import { TEST_SECRET, addToWaitlist, client, createDrop, createUser, testDatabaseUrl, type TestApp } from './support/app.ts';
import { freePort } from './support/global-setup.ts';
import { killLeftovers, startServer, stopServer, tail, track } from './support/spawned-server.ts';
import { closeSockets, connect, connected, next, request } from './support/sockets.ts';

/**
 * WORKERS=2 as an operator runs it: the real entry point, a primary that hands connections to two
 * worker processes behind one port, rooms spanning both through the cluster adapter (no Redis).
 */
afterEach(() => {
  closeSockets();
  killLeftovers();
});

/** The process ids of the log lines with this message (pino writes the pid first). */
const pidsOf = (output: string, msg: string) => [...output.matchAll(new RegExp(`"pid":(\\d+),[^\\n]*"msg":"${msg}"`, 'g'))].map((m) => Number(m[1]));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.warn('SKIPPED WORKERS=2 with Redis: no redis-server binary on PATH');

/** A private redis-server on a free port, answering. */
async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(() => resolve(true)));
      socket.once('error', () => resolve(false));
    });
  await vi.waitFor(async () => expect(await answers()).toBe(true), { timeout: 10_000, interval: 50 });
  return { url: `redis://127.0.0.1:${port}`, child };
}

// Without REDIS_URL the workers share rooms through the primary (cluster adapter); with it, through Redis.
const modes = [{ link: 'the cluster adapter', redis: false }, ...(hasRedis ? [{ link: 'Redis', redis: true }] : [])];

describe('WORKERS=2 on one port', () => {
  it.for(modes)('serves from two workers, keeps long-polling sessions on theirs, spans rooms across them through $link, replaces a dead one, and on SIGTERM answers the claim in flight and exits 0', { timeout: 240_000 }, async ({ redis }) => {
    const databaseUrl = await testDatabaseUrl();
    const redisServer = redis ? await startRedis() : undefined;
    // The test's own connection, for the fixtures (createDrop and createUser only use the ORM).
    const orm = await initOrm(databaseUrl, { pool: { min: 0, max: 2 }, logger: () => {} });
    const db = { orm } as TestApp;
    const port = await freePort();
    const server = await startServer({
      DATABASE_URL: databaseUrl,
      JWT_ACCESS_SECRET: TEST_SECRET,
      SEED_DEMO: 'false',
      PORT: String(port),
      WORKERS: '2',
      ...(redisServer ? { REDIS_URL: redisServer.url, REDIS_PREFIX: `dropspot-workers-${process.pid}` } : {}),
    });
    const base = `http://127.0.0.1:${port}`;
    const api = client(base);
    const workers = () => pidsOf(server.output(), 'worker ready');
    let seen: number[];
    try {
      // Two workers, both ready before the primary said so once; one send worker, not one per worker.
      expect(new Set(workers()).size).toBe(2);
      expect(workers()).not.toContain(server.child.pid);
      expect(server.output().match(/DropSpot is ready/g)).toHaveLength(1);
      const linked = redis ? 'span processes through Redis' : "span this machine's workers \\(cluster adapter\\)";
      expect(server.output().match(new RegExp(`"worker":\\d,"component":"realtime","msg":"rooms and the event stream ${linked}`, 'g'))).toHaveLength(2);
      await vi.waitFor(() => expect(pidsOf(server.output(), 'send worker ready')).toHaveLength(1), { timeout: 60_000 });

      // Plain HTTP requests are spread over both (each request log line names its worker).
      for (let i = 0; i < 6; i++) expect((await api('GET', '/readyz')).status).toBe(200);
      const servedBy = [...server.output().matchAll(/"worker":(\d+),"req":\{[^\n]*"url":"\/readyz"/g)].map((m) => Number(m[1]));
      expect(new Set(servedBy)).toEqual(new Set([1, 2]));

      const drop = await createDrop(db, { totalSlots: 10 });
      const [first, second] = [await createUser(db), await createUser(db)];
      await addToWaitlist(db, drop.id, [first!.id, second!.id]);
      const admin = await createUser(db, 'ADMIN');

      // Long-polling only: every emit is a request of its own, and each lands on the worker that
      // holds the session (another worker would answer "Session ID unknown" and end the socket).
      const poller = await connected(connect(base, { transports: ['polling'] }));
      const sid = poller.id;
      for (let i = 0; i < 30; i++) expect(await request(poller, i % 2 ? 'drop:unwatch' : 'drop:watch', { dropId: drop.id })).toMatchObject({ ok: true });
      expect(await request(poller, 'drop:watch', { dropId: drop.id })).toMatchObject({ ok: true });
      expect([poller.connected, poller.id, poller.io.engine.transport.name]).toEqual([true, sid, 'polling']);

      // Six WebSocket watchers more, handed round-robin to the two workers.
      const sockets: Socket[] = [poller];
      for (let i = 0; i < 6; i++) {
        const socket = await connected(connect(base));
        expect(await request(socket, 'drop:watch', { dropId: drop.id })).toMatchObject({ ok: true });
        sockets.push(socket);
      }
      // A claim (through one worker) reaches every watcher, on both workers, with the watchers of both counted.
      const counts = sockets.map((socket) => next(socket, 'drop:counts', (c: { claimed: number }) => c.claimed === 1, 15_000));
      expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: first!.token })).status).toBe(201);
      for (const got of await Promise.all(counts)) expect(got).toMatchObject({ dropId: drop.id, claimed: 1, remaining: 9, watchers: 7 });

      // Which socket was on which worker shows once one worker dies: its sockets end, the others'
      // stay. The primary starts another in its place.
      const [victim] = workers();
      process.kill(victim!, 'SIGKILL');
      await vi.waitFor(() => expect(server.output()).toContain('a worker ended unexpectedly; starting another'), { timeout: 10_000 });
      // Requests go on meanwhile: those handed to the replacement while it is still loading wait
      // for it (a second or more) and are answered, none is lost.
      const until = Date.now() + 60_000;
      while (workers().length < 3 && Date.now() < until) expect((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(30_000) })).status).toBe(200);
      const replacement = workers()[2];
      await vi.waitFor(() => expect(server.output()).toMatch(new RegExp(`"pid":${replacement},[^\\n]*"url":"/readyz"`)), { timeout: 5000 });
      // A socket still answers, or ends on asking: a long-polling request that was being handed to
      // the killed worker as it died may leave its client waiting for its ping timeout, but its
      // next request names a session no worker holds and is refused.
      const answers = (socket: Socket) =>
        new Promise<boolean>((resolve) => {
          if (!socket.connected) return resolve(false);
          socket.once('disconnect', () => resolve(false));
          void request(socket, 'drop:watch', { dropId: drop.id }).then((ack) => resolve(ack.ok));
        });
      const answered = await Promise.all(sockets.map(answers));
      const survivors = sockets.filter((_, i) => answered[i]);
      // Both workers held watchers, so the counts above crossed from one worker to the other.
      expect(survivors.length).toBeGreaterThan(0);
      expect(survivors.length).toBeLessThan(sockets.length);

      // After the restart: an admin action through any worker reaches the survivors and sockets new on either worker.
      for (let i = 0; i < 2; i++) {
        const socket = await connected(connect(base));
        expect(await request(socket, 'drop:watch', { dropId: drop.id })).toMatchObject({ ok: true });
        survivors.push(socket);
      }
      const closed = survivors.map((socket) => next(socket, 'drop:window', (e: { type: string }) => e.type === 'closed', 15_000));
      expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'close-now' } })).status).toBeLessThan(300);
      await Promise.all(closed);

      // SIGTERM while a claim is in flight (held behind a lock on its drop's row): the primary stops
      // taking connections, each worker shuts down gracefully, and the claim is still answered.
      const late = await createDrop(db, { totalSlots: 1 });
      await addToWaitlist(db, late.id, [second!.id]);
      const holder = new pg.Client({ connectionString: databaseUrl });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select 1 from "drop" where id = $1 for update', [late.id]);
        const inFlight = api('POST', `/api/drops/${late.id}/claim`, { token: second!.token });
        // The claim waits for the lock (claims give up after 5 s of it: everything below is quicker).
        const waiting = async () => (await db.orm.em.fork().execute<{ n: number }[]>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`))[0]!.n;
        await vi.waitFor(async () => expect(await waiting()).toBeGreaterThan(0), { timeout: 4000 });
        const stopping = stopServer(server.child);
        await vi.waitFor(() => expect(pidsOf(server.output(), 'worker shutting down')).toHaveLength(2), { timeout: 4000 });
        await expect(fetch(`${base}/healthz`)).rejects.toThrow();
        await holder.query('commit');
        expect((await Promise.race([inFlight, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the claim in flight was never answered')), 20_000))])).status).toBe(201);
        expect(await stopping, tail(server.output())).toBe('exit 0');
      } finally {
        await holder.end();
      }
    } finally {
      seen = [...workers(), ...pidsOf(server.output(), 'send worker ready')];
      closeSockets();
      expect(await stopServer(server.child), tail(server.output())).toBe('exit 0');
      await closeOrm(orm);
      redisServer?.child.kill();
    }
    // Every worker and the send worker ended with the primary, each after its graceful shutdown.
    expect(seen.filter(alive)).toEqual([]);
    expect(pidsOf(server.output(), 'worker shutting down')).toHaveLength(2);
    expect(server.output()).toContain('"msg":"stopped"');
  });
});
