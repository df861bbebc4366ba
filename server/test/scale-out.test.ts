import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { addToWaitlist, client, createDrop, createUser, startTestApp, type TestApp } from './support/app.ts';
import { closeSockets, connect, connected, next, request } from './support/sockets.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const redisUp = await reachable(REDIS_URL);
if (!redisUp) console.warn(`SKIPPED two-process tests: no Redis reachable at ${REDIS_URL} (set TEST_REDIS_URL)`);

const apps: TestApp[] = [];
afterEach(() => closeSockets());
afterAll(async () => {
  for (const app of apps) await app.close();
});

describe.skipIf(!redisUp)('two server processes sharing Redis', () => {
  it('a claim on one process reaches a watcher on the other, and the stream is published once', async () => {
    // A prefix of its own, so no other run sharing this Redis talks to these two processes.
    const REDIS_PREFIX = `dropspot-test-${process.pid}-${Date.now()}`;
    const a = await startTestApp({ REDIS_URL, REDIS_PREFIX });
    const b = await startTestApp({ REDIS_URL, REDIS_PREFIX });
    // Processes sharing a database are one deployment: they must share one Redis too, so these
    // two close before the next test starts its own pair.
    apps.push(a, b);
    try {
    const drop = await createDrop(a, { totalSlots: 3 });
    const user = await createUser(a);
    await addToWaitlist(a, drop.id, [user.id]);
    const admin = await createUser(a, 'ADMIN');

    const watcherOnB = await connected(connect(b.baseUrl));
    await request(watcherOnB, 'drop:watch', { dropId: drop.id });
    const streamOnA = await connected(connect(a.baseUrl, { namespace: '/events', auth: { token: admin.token } }));
    const streamOnB = await connected(connect(b.baseUrl, { namespace: '/events', auth: { token: admin.token } }));
    const seenA: number[] = [];
    const seenB: number[] = [];
    streamOnA.on('event', (e: { id: number }) => seenA.push(e.id));
    streamOnB.on('event', (e: { id: number }) => seenB.push(e.id));

    const counts = next(watcherOnB, 'drop:counts', (c: any) => c.remaining === 2, 5000);
    const claimedOnA = await client(a.baseUrl)('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(claimedOnA.status).toBe(201);
    expect(await counts).toMatchObject({ dropId: drop.id, remaining: 2, claimed: 1 });

    const closed = next(watcherOnB, 'drop:window', (e: any) => e.type === 'closed', 5000);
    await client(a.baseUrl)('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'close-now' } });
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Each subscriber sees each event exactly once, whichever process published it.
    expect(new Set(seenA).size).toBe(seenA.length);
    expect(new Set(seenB).size).toBe(seenB.length);
    expect(seenA.length).toBeGreaterThanOrEqual(2);
    expect(seenB).toEqual(seenA);

    // PRIORITY across processes: a leave on A and an expiry (timers on both processes) each
    // grant the next in line once, and the grant reaches that user's socket on B.
    const line = await createDrop(a, { totalSlots: 2, allocationMode: 'PRIORITY', holdSeconds: 1, startInMs: 60_000 });
    const people = await Promise.all([1, 2, 3, 4].map(() => createUser(a)));
    await addToWaitlist(a, line.id, people.map((p) => p.id));
    await client(a.baseUrl)('POST', `/api/admin/drops/${line.id}/window`, { token: admin.token, body: { action: 'open-now' } });
    const order = (await b.services.reservations.adminView(line.id)).items.map((i) => people.find((p) => p.id === i.userId)!);
    const third = await connected(connect(b.baseUrl, { auth: { token: order[2]!.token } }));
    const fourth = await connected(connect(b.baseUrl, { auth: { token: order[3]!.token } }));
    const thirdGranted = next(third, 'me:reservation', (r: any) => r.status === 'GRANTED', 5000);
    const fourthGranted = next(fourth, 'me:reservation', (r: any) => r.status === 'GRANTED', 5000);
    await client(a.baseUrl)('POST', `/api/drops/${line.id}/leave`, { token: order[0]!.token });
    expect(await thirdGranted).toMatchObject({ rank: 3 });
    expect(await fourthGranted).toMatchObject({ rank: 4 });
    // Both processes' timers fired for the same holds; each expiry and each grant happened once.
    const twice = await a.orm.em.fork().execute<{ n: number }[]>(
      `select count(*)::int as n from (select user_id, type from "outbox_event" where drop_id = ? and type like 'reservation.%'
        group by user_id, type having count(*) > 1) dupes`,
      [line.id],
    );
    expect(twice[0]!.n).toBe(0);
    } finally {
      closeSockets();
      for (const app of apps.splice(0)) await app.close();
    }
  });
});
