import { beforeAll, describe, expect, it, vi } from 'vitest';
import { OutboxEventSchema } from '../src/modules/events/outbox-event.entity.ts';
import { UserSchema } from '../src/modules/users/user.entity.ts';
import { addToWaitlist, createDrop, createUser, createUsers, useTestApp } from './support/app.ts';
import { collect, connect, connected, next, refusal, sleep, until } from './support/sockets.ts';

const { app, api } = useTestApp();
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
});

const newDrop = (title: string) => ({
  title,
  totalSlots: 5,
  claimWindowStart: new Date(Date.now() - 60_000).toISOString(),
  claimWindowEnd: new Date(Date.now() + 600_000).toISOString(),
});


describe('the outbox', () => {
  it('writes events in the same transaction as the change: a rolled-back claim records nothing', async () => {
    const drop = await createDrop(app, { totalSlots: 1 });
    const [a, b] = await createUsers(app, 2);
    await addToWaitlist(app, drop.id, [a!.id, b!.id]);
    await api('POST', `/api/drops/${drop.id}/claim`, { token: a!.token });
    const refused = await api('POST', `/api/drops/${drop.id}/claim`, { token: b!.token });
    expect(refused.body.code).toBe('SOLD_OUT');
    const em = app.orm.em.fork();
    expect(await em.count(OutboxEventSchema, { dropId: drop.id, type: 'claim.issued' })).toBe(1);
    expect(await em.count(OutboxEventSchema, { dropId: drop.id, type: 'claim.issued', userId: b!.id })).toBe(0);
  });

  it('publishes every event once with a gap-free increasing id, and never leaks claim codes', async () => {
    const created = await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop('Outbox order') });
    const user = await createUser(app);
    await api('POST', `/api/drops/${created.body.id}/join`, { token: user.token });
    const claim = await api('POST', `/api/drops/${created.body.id}/claim`, { token: user.token });
    const events = await until(
      async () => (await api('GET', '/api/admin/events?after=0&limit=1000', { token: admin.token })).body.items,
      (items: { type: string; dropId: string }[]) => items.some((e) => e.type === 'claim.issued' && e.dropId === created.body.id),
    );
    const ids = events.map((e: any) => e.id);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    const mine = events.filter((e: { dropId: string }) => e.dropId === created.body.id).map((e: { type: string }) => e.type);
    expect(mine).toEqual(['drop.created', 'waitlist.joined', 'claim.issued']);
    expect(JSON.stringify(events)).not.toContain(claim.body.claim.code);
  });
});

describe('/events stream', () => {
  it('a subscriber that reconnects with its last id gets what it missed, then the live stream, no repeats', async () => {
    const first = await connected(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token } }));
    const seen = collect<{ id: number; type: string; payload: { drop?: { title: string } } }>(first, 'event');
    const marker = next(first, 'event', (e: any) => e.payload.drop?.title === 'Before disconnect', 5000);
    await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop('Before disconnect') });
    await marker;
    first.close();
    const lastId = seen.at(-1)!.id;

    // Missed while away:
    await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop('Missed 1') });
    await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop('Missed 2') });
    await until(
      async () => (await api('GET', `/api/admin/events?after=${lastId}&limit=1000`, { token: admin.token })).body.items,
      (items: { payload: { drop?: { title: string } } }[]) => items.some((e) => e.payload.drop?.title === 'Missed 2'),
    );

    const second = connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: lastId } });
    const resumed = collect<{ id: number; payload: { drop?: { title: string } } }>(second, 'event');
    await connected(second);
    const live = next(second, 'event', (e: any) => e.payload.drop?.title === 'Live after', 5000);
    await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop('Live after') });
    await live;
    // A repeat would arrive after the live event: only waiting a while can show that none does.
    await sleep(200);

    const ids = resumed.map((e) => e.id);
    expect(ids[0]).toBe(lastId + 1);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => lastId + 1 + i));
    const titles = resumed.map((e) => e.payload.drop?.title).filter(Boolean);
    expect(titles).toEqual(['Missed 1', 'Missed 2', 'Live after']);
  });

  it('replays a history of several pages in order, every event once, reading a page only when the last one has left the server', async () => {
    // More history than three pages of 500, published by the relay like any other events.
    const db = app.orm.em.fork();
    await db.execute(`insert into "outbox_event" (type, payload, created_at) select 'drop.updated', jsonb_build_object('n', g), now() from generate_series(1, 1300) g`);
    app.signals.committed();
    await vi.waitFor(async () => expect((await db.execute<{ n: number }[]>(`select count(*)::int as n from "outbox_event" where seq is null`))[0]!.n).toBe(0), { timeout: 10_000 });
    const newest = Number((await db.execute<{ top: string }[]>(`select max(seq) as top from "outbox_event"`))[0]!.top);

    // Each page the stream reads, and what Engine.IO still held for the subscriber at that moment.
    const reads: { after: number; buffered: number; writable: boolean }[] = [];
    const events = app.services.events;
    const read = events.after;
    const subscriber = connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: 0, probe: 'pages' } });
    events.after = async (after, limit) => {
      const server = [...app.realtime.io.of('/events').sockets.values()].find((socket) => socket.handshake.auth.probe === 'pages');
      const conn = server?.conn as unknown as { writeBuffer: unknown[]; transport: { writable: boolean } } | undefined;
      if (conn) reads.push({ after, buffered: conn.writeBuffer.length, writable: conn.transport.writable });
      return read(after, limit);
    };
    try {
      const seen = collect<{ id: number }>(subscriber, 'event');
      await connected(subscriber);
      await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(newest), { timeout: 30_000 });
      expect(seen.map((e) => e.id)).toEqual(Array.from({ length: newest }, (_, i) => i + 1));
      // One read per page (the last one short), and none while the previous page was still queued.
      expect(reads.map((r) => r.after)).toEqual(Array.from({ length: Math.floor(newest / 500) + 1 }, (_, i) => i * 500));
      expect(reads.slice(1).filter((r) => r.buffered > 0 || !r.writable)).toEqual([]);
    } finally {
      events.after = read;
    }
  });

  it('API tokens: an admin creates one, it reads the stream and the polling route, and revoking it cuts it off', async () => {
    const created = await api('POST', '/api/admin/api-tokens', { token: admin.token, body: { name: 'dashboard' } });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^dsk_/);
    const listed = await api('GET', '/api/admin/api-tokens', { token: admin.token });
    expect(listed.body.items.find((t: { id: string }) => t.id === created.body.id)).toMatchObject({ name: 'dashboard', revokedAt: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

    const polled = await api('GET', '/api/admin/events?after=0&limit=5', { token: created.body.token });
    expect(polled.status).toBe(200);
    expect(polled.body.items.length).toBeLessThanOrEqual(5);

    const socket = await connected(connect(app.baseUrl, { namespace: '/events', auth: { token: created.body.token } }));
    const gone = new Promise((resolve) => socket.once('disconnect', resolve));
    expect((await api('DELETE', `/api/admin/api-tokens/${created.body.id}`, { token: admin.token })).status).toBe(204);
    await gone;
    expect((await api('GET', '/api/admin/events', { token: created.body.token })).status).toBe(401);

    const user = await createUser(app);
    expect((await api('GET', '/api/admin/events', { token: user.token })).status).toBe(403);
    expect((await api('POST', '/api/admin/api-tokens', { token: user.token, body: { name: 'x' } })).status).toBe(403);
    expect((await api('GET', '/api/admin/events?after=-1', { token: admin.token })).status).toBe(400);
  });
});

describe('API tokens follow their creator', () => {
  it('stop working on the polling route and the /events socket when their creator is no longer an admin, or is deleted', async () => {
    const creator = await createUser(app, 'ADMIN');
    const created = await api('POST', '/api/admin/api-tokens', { token: creator.token, body: { name: 'creator leaves' } });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    expect((await api('GET', '/api/admin/events', { token })).status).toBe(200);
    const socket = await connected(connect(app.baseUrl, { namespace: '/events', auth: { token } }));
    const gone = new Promise((resolve) => socket.once('disconnect', resolve));

    await app.orm.em.fork().nativeUpdate(UserSchema, { id: creator.id }, { role: 'USER' });
    const demoted = await api('GET', '/api/admin/events', { token });
    expect([demoted.status, demoted.body.code]).toEqual([401, 'TOKEN_INVALID']);
    expect(await gone).toBe('io server disconnect');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events', auth: { token } }))).toBe('TOKEN_INVALID');

    // Promoted again, the token works again; deleted, its tokens go with the account.
    await app.orm.em.fork().nativeUpdate(UserSchema, { id: creator.id }, { role: 'ADMIN' });
    expect((await api('GET', '/api/admin/events', { token })).status).toBe(200);
    await app.orm.em.fork().nativeDelete(UserSchema, { id: creator.id });
    expect((await api('GET', '/api/admin/events', { token })).status).toBe(401);
  });
});

describe('personal position pushes', () => {
  it('tells a watching user when their position changes', async () => {
    const drop = await createDrop(app, { startInMs: 60_000, endInMs: 120_000 });
    const [low, high] = await createUsers(app, 2);
    await api('POST', `/api/drops/${drop.id}/join`, { token: low!.token });
    const setScore = (userId: string, score: number) =>
      app.orm.em.fork().execute('update "waitlist" set priority_score = ? where user_id = ? and drop_id = ?', [score, userId, drop.id]);
    await setScore(low!.id, 50_000);
    const socket = await connected(connect(app.baseUrl, { auth: { token: low!.token } }));
    // Watching pushes the current position; later pushes come only when it changes.
    const first = next(socket, 'me:position', (p: any) => p.position === 1, 5000);
    await new Promise((resolve) => socket.emit('drop:watch', { dropId: drop.id }, resolve));
    await first;
    const moved = next(socket, 'me:position', (p: any) => p.position === 2, 5000);
    await api('POST', `/api/drops/${drop.id}/join`, { token: high!.token });
    await setScore(high!.id, 99_999);
    const other = await createUser(app);
    await api('POST', `/api/drops/${drop.id}/join`, { token: other.token });
    expect((await moved).waitlistCount).toBeGreaterThanOrEqual(2);
  });
});
