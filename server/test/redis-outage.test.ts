import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { addToWaitlist, client, createDrop, createUser, createUsers, startTestApp, type TestApp } from './support/app.ts';
import { freePort } from './support/free-port.ts';
import { closeSockets, collect, connect, connected, next, request, sleep } from './support/sockets.ts';

/**
 * Redis lost in scale-out mode, with a Redis of this test's own (no other test shares it):
 * two app instances, Redis killed and started again on the same port.
 */
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis) console.warn('SKIPPED Redis outage test: no redis-server binary on PATH');

let redis: ChildProcess | undefined;
const apps: TestApp[] = [];
afterAll(async () => {
  closeSockets();
  for (const app of apps) await app.close().catch(() => undefined);
  redis?.kill('SIGKILL');
});

/** Answers PING with PONG: up and accepting commands. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  return vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until('redis-server to answer', () => pong(port));
  return child;
}

/** Watches the drop and returns how many watchers the server counted (all processes). */
async function watch(socket: ReturnType<typeof connect>, dropId: string): Promise<number> {
  const ack = await request(socket, 'drop:watch', { dropId });
  if (!ack.ok) throw new Error(`drop:watch refused: ${ack.code}`);
  return ack.data.watchers;
}

/** The same promise, failing with what was being waited for (a failure then says which watcher, when). */
function labelled<T>(label: string, promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    throw new Error(`${label}: ${error instanceof Error ? error.message : String(error)}`);
  });
}

async function readiness(app: TestApp): Promise<string> {
  const res = await fetch(`${app.baseUrl}/readyz`);
  return ((await res.json()) as { status: string }).status;
}

describe.skipIf(!hasRedis)('Redis lost in scale-out mode', () => {
  it('each process keeps serving its own sockets and says so; when Redis returns, messages cross processes again', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: `dropspot-outage-${process.pid}` };
    const logs: Record<'a' | 'b', string[]> = { a: [], b: [] };
    const logger = (name: 'a' | 'b') => pino({ level: 'info' }, { write: (line: string) => void logs[name].push(line) });
    const a = await startTestApp(env, undefined, logger('a'));
    const b = await startTestApp(env, undefined, logger('b'));
    apps.push(a, b);

    const drop = await createDrop(a, { totalSlots: 10 });
    const users = await createUsers(a, 4);
    await addToWaitlist(a, drop.id, users.map((u) => u.id));
    const admin = await createUser(a, 'ADMIN');
    const watcherB = await connected(connect(b.baseUrl));
    await request(watcherB, 'drop:watch', { dropId: drop.id });
    const watcherA = await connected(connect(a.baseUrl));
    // Watchers are counted across processes through Redis: one here, one on B.
    expect(await watch(watcherA, drop.id)).toBe(2);
    expect([await readiness(a), await readiness(b)]).toEqual(['ready', 'ready']);

    // ---- Redis goes away --------------------------------------------------------------------
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    await until('both processes to report degraded', async () => (await readiness(a)) === 'degraded' && (await readiness(b)) === 'degraded');
    const readyz = await (await fetch(`${a.baseUrl}/readyz`)).json();
    expect(readyz).toEqual({ status: 'degraded', database: 'up', redis: 'down' });
    for (const name of ['a', 'b'] as const) expect(logs[name].join('')).toContain('redis lost');

    // Each process still serves its own sockets, with true numbers: a claim on B reaches B's
    // watcher, and A's watcher too (each process refreshes its rooms from the database).
    const seenOnB = labelled('outage, watcher on B', next(watcherB, 'drop:counts', (c: { remaining: number }) => c.remaining === 9, 5000));
    const seenOnA = labelled('outage, watcher on A', next(watcherA, 'drop:counts', (c: { remaining: number }) => c.remaining === 9, 5000));
    expect((await client(b.baseUrl)('POST', `/api/drops/${drop.id}/claim`, { token: users[0]!.token })).status).toBe(201);
    await Promise.all([seenOnB, seenOnA]);
    const claimer = await connected(connect(a.baseUrl, { auth: { token: users[1]!.token } }));
    expect(await request(claimer, 'drop:claim', { dropId: drop.id })).toMatchObject({ ok: true, data: { created: true } });
    // Without Redis, A counts only its own watchers (and does not hang asking the others).
    expect(await watch(connect(a.baseUrl), drop.id)).toBe(2);

    // ---- Redis comes back ---------------------------------------------------------------------
    redis = await startRedis(port);
    // `ready` on both clients of both processes means reconnected and re-subscribed: from here
    // on every message reaches the other process (no sleep, no retry).
    await until('both processes to report ready', async () => (await readiness(a)) === 'ready' && (await readiness(b)) === 'ready');
    for (const name of ['a', 'b'] as const) expect(logs[name].join('')).toContain('redis is back');

    // Cross-process again: B counts A's watchers, A's changes reach B's watcher.
    const lateOnB = await connected(connect(b.baseUrl));
    expect(await watch(lateOnB, drop.id)).toBe(4);
    const countsOnB = labelled('after Redis returned, watcher on B', next(watcherB, 'drop:counts', (c: { remaining: number }) => c.remaining === 7, 5000));
    expect((await client(a.baseUrl)('POST', `/api/drops/${drop.id}/claim`, { token: users[2]!.token })).status).toBe(201);
    await countsOnB;
    const extendedOnB = labelled('after Redis returned, window event on B', next(watcherB, 'drop:window', (e: { type: string }) => e.type === 'extended', 5000));
    await client(a.baseUrl)('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'extend', seconds: 60 } });
    await extendedOnB;

    // Stopping B tells B's sockets why, and nobody else's (the notice is not sent through Redis).
    const shutdownOnA = collect(watcherA, 'server:shutdown');
    const shutdownOnB = next(watcherB, 'server:shutdown');
    apps.splice(apps.indexOf(b), 1);
    await b.close();
    await shutdownOnB;
    // Proves an absence: only waiting a while can show that A's sockets hear nothing.
    await sleep(300);
    expect(shutdownOnA).toEqual([]);
  });
});
