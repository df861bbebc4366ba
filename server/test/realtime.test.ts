import jwt from 'jsonwebtoken';
import { Manager } from 'socket.io-client';
import { describe, expect, it, vi } from 'vitest';
import { signAccessToken } from '../src/modules/auth/tokens.ts';
import { TEST_SECRET, addToWaitlist, createDrop, createUser, createUsers, startTestApp, useTestApp } from './support/app.ts';
import { collect, connect, connected, next, refusal, request, sleep } from './support/sockets.ts';

const { app, api } = useTestApp();

describe('drop rooms', () => {
  it('snapshots for a visitor, a user and an admin', async () => {
    const drop = await createDrop(app, { totalSlots: 7 });
    const user = await createUser(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const admin = await createUser(app, 'ADMIN');

    const visitor = await connected(connect(app.baseUrl));
    const anon = await request(visitor, 'drop:watch', { dropId: drop.id });
    expect(anon.ok).toBe(true);
    if (!anon.ok) return;
    expect(anon.data.drop).toMatchObject({ id: drop.id, remaining: 7, waitlistCount: 1, window: { state: 'live', paused: false } });
    expect(anon.data.drop.me).toBeUndefined();
    expect(anon.data.watchers).toBe(1);
    expect(Math.abs(Date.parse(anon.data.serverNow) - Date.now())).toBeLessThan(2000);

    const mine = await request(await connected(connect(app.baseUrl, { auth: { token: user.token } })), 'drop:watch', { dropId: drop.id });
    expect(mine.ok && mine.data.drop.me.waitlist.position).toBe(1);
    expect(mine.ok && mine.data.watchers).toBe(2);
    const asAdmin = await request(await connected(connect(app.baseUrl, { auth: { token: admin.token } })), 'drop:watch', { dropId: drop.id });
    expect(asAdmin.ok && asAdmin.data.drop.me).toEqual({ waitlist: null, claim: null });
  });

  it('validates payloads and reports unknown drops with the HTTP codes', async () => {
    const socket = await connected(connect(app.baseUrl));
    const bad = await request(socket, 'drop:watch', { dropId: 'nope' });
    expect(bad).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
    const extra = await request(socket, 'drop:watch', { dropId: '00000000-0000-4000-8000-000000000000', x: 1 });
    expect(extra).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
    const missing = await request(socket, 'drop:watch', { dropId: '00000000-0000-4000-8000-000000000000' });
    expect(missing).toMatchObject({ ok: false, code: 'DROP_NOT_FOUND' });
    const anonymousClaim = await request(socket, 'drop:claim', { dropId: '00000000-0000-4000-8000-000000000000' });
    expect(anonymousClaim).toMatchObject({ ok: false, code: 'UNAUTHENTICATED' });
  });

  it('pushes counts after a claim over HTTP and over a socket, and personal events to the claimer', async () => {
    const drop = await createDrop(app, { totalSlots: 5 });
    const [a, b] = await createUsers(app, 2);
    await addToWaitlist(app, drop.id, [a!.id, b!.id]);
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drop.id });

    const viaHttp = next(watcher, 'drop:counts', (c: { remaining: number }) => c.remaining === 4);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: a!.token })).status).toBe(201);
    expect(await viaHttp).toMatchObject({ dropId: drop.id, claimed: 1, remaining: 4, totalSlots: 5 });

    const claimer = await connected(connect(app.baseUrl, { auth: { token: b!.token } }));
    const personal = next(claimer, 'me:claim');
    const viaSocket = next(watcher, 'drop:counts', (c: { remaining: number }) => c.remaining === 3);
    const ack = await request(claimer, 'drop:claim', { dropId: drop.id });
    expect(ack.ok && ack.data.created).toBe(true);
    expect(await viaSocket).toMatchObject({ remaining: 3 });
    expect((await personal).code).toBe(ack.ok && ack.data.claim.code);
    // Same idempotency as HTTP: the same claim again, no second code.
    const again = await request(claimer, 'drop:claim', { dropId: drop.id });
    expect(again.ok && again.data).toMatchObject({ created: false, claim: { code: ack.ok && ack.data.claim.code } });
  });

  it('join and leave over the socket update the waitlist count and the user personally', async () => {
    const drop = await createDrop(app, { startInMs: 60_000, endInMs: 120_000 });
    const user = await createUser(app);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    await request(socket, 'drop:watch', { dropId: drop.id });
    const counted = next(socket, 'drop:counts', (c: { waitlistCount: number }) => c.waitlistCount === 1);
    const personal = next(socket, 'me:waitlist', (p: any) => p.entry !== null);
    const joined = await request(socket, 'drop:join', { dropId: drop.id });
    expect(joined.ok && joined.data.created).toBe(true);
    await counted;
    expect((await personal).dropId).toBe(drop.id);
    const left = next(socket, 'me:waitlist', (p: any) => p.entry === null);
    expect(await request(socket, 'drop:leave', { dropId: drop.id })).toEqual({ ok: true, data: { left: true } });
    await left;
  });

  it('coalesces a storm: 1,000 claims produce far fewer count messages, and the last one is exact', async () => {
    const drop = await createDrop(app, { totalSlots: 1000 });
    const users = await createUsers(app, 1000);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    const watcher = await connected(connect(app.baseUrl));
    // Watching sends the drop's counts once; the storm's messages are the ones after it.
    const watched = next(watcher, 'drop:counts', (c: { dropId: string }) => c.dropId === drop.id);
    await request(watcher, 'drop:watch', { dropId: drop.id });
    await watched;
    const messages = collect<{ remaining: number; claimed: number }>(watcher, 'drop:counts');
    const soldOut = next(watcher, 'drop:counts', (c: { remaining: number }) => c.remaining === 0, 60_000);

    const queue = [...users];
    const workers = Array.from({ length: 50 }, async () => {
      for (let u = queue.pop(); u; u = queue.pop()) await app.services.claims.claim(u.id, drop.id);
    });
    await Promise.all(workers);
    const committedAt = Date.now();
    const last = await soldOut;
    const reachedAfterMs = Date.now() - committedAt;
    // A stale message after the sell-out would make the last one wrong: only waiting a while shows none comes.
    await sleep(300);

    console.log(`coalescing: 1000 claims -> ${messages.length} count messages; sell-out reached the watcher ${reachedAfterMs} ms after the last commit`);
    expect(last).toMatchObject({ remaining: 0, claimed: 1000 });
    expect(messages.at(-1)).toMatchObject({ remaining: 0, claimed: 1000 });
    expect(messages.length).toBeLessThan(200);
    expect(messages.length).toBeGreaterThan(1);
    for (let i = 1; i < messages.length; i++) expect(messages[i]!.claimed).toBeGreaterThanOrEqual(messages[i - 1]!.claimed);
  });

  it('a reconnecting client gets a fresh snapshot with the changes it missed', async () => {
    const drop = await createDrop(app, { totalSlots: 10 });
    const users = await createUsers(app, 3);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    const first = await connected(connect(app.baseUrl));
    const before = await request(first, 'drop:watch', { dropId: drop.id });
    expect(before.ok && before.data.drop.remaining).toBe(10);
    first.close();
    for (const u of users) await app.services.claims.claim(u.id, drop.id);
    const again = await request(await connected(connect(app.baseUrl)), 'drop:watch', { dropId: drop.id });
    expect(again.ok && again.data.drop.remaining).toBe(7);
  });

  it('counts watchers as they come and go', async () => {
    const drop = await createDrop(app);
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drop.id });
    const two = next(watcher, 'drop:counts', (c: { watchers: number }) => c.watchers === 2);
    const other = await connected(connect(app.baseUrl));
    await request(other, 'drop:watch', { dropId: drop.id });
    await two;
    const one = next(watcher, 'drop:counts', (c: { watchers: number }) => c.watchers === 1);
    other.close();
    await one;
  });
});

describe('window events', () => {
  it('announce opened and closed at the scheduled instants', async () => {
    const admin = await createUser(app, 'ADMIN');
    // Far enough ahead that a busy machine has created and watched the drop before it opens.
    const start = Date.now() + 3000;
    const end = start + 600;
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Timed', totalSlots: 2, claimWindowStart: new Date(start).toISOString(), claimWindowEnd: new Date(end).toISOString() },
    });
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: created.body.id });
    const opened = next(watcher, 'drop:window', (e: any) => e.type === 'opened', 10_000);
    const closed = next(watcher, 'drop:window', (e: any) => e.type === 'closed', 10_000);
    const openedEvent = await opened;
    const openedLag = Date.now() - start;
    const closedEvent = await closed;
    const closedLag = Date.now() - end;
    console.log(`window timers: opened arrived ${openedLag} ms after the start, closed ${closedLag} ms after the end`);
    expect(openedLag).toBeGreaterThanOrEqual(0);
    expect(openedLag).toBeLessThan(500);
    expect(closedLag).toBeGreaterThanOrEqual(0);
    expect(closedLag).toBeLessThan(500);
    expect(openedEvent.window.state).toBe('live');
    expect(closedEvent.window.state).toBe('ended');
  });

  it('pushes admin actions from HTTP and from the /admin namespace to every watcher at once', async () => {
    const drop = await createDrop(app);
    const admin = await createUser(app, 'ADMIN');
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drop.id });

    const paused = next(watcher, 'drop:window', (e: any) => e.type === 'paused');
    await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'pause' } });
    expect((await paused).window.paused).toBe(true);

    const console_ = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: admin.token } }));
    const adminSees = next(console_, 'drop:window', (e: any) => e.type === 'resumed');
    const resumed = next(watcher, 'drop:window', (e: any) => e.type === 'resumed');
    const ack = await request(console_, 'window:action', { dropId: drop.id, action: 'resume' });
    expect(ack.ok && ack.data.window.paused).toBe(false);
    await resumed;
    await adminSees;

    const extended = next(watcher, 'drop:window', (e: any) => e.type === 'extended');
    await request(console_, 'window:action', { dropId: drop.id, action: 'extend', seconds: 60 });
    expect(Date.parse((await extended).window.end)).toBe(drop.claimWindowEnd.getTime() + 60_000);

    const closed = next(watcher, 'drop:window', (e: any) => e.type === 'closed');
    await request(console_, 'window:action', { dropId: drop.id, action: 'close-now' });
    expect((await closed).window.state).toBe('ended');
    expect(await request(console_, 'window:action', { dropId: drop.id, action: 'extend' })).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
  });

  it('never shows a draft to the lobby, and withdraws a drop that goes back to draft', async () => {
    const admin = await createUser(app, 'ADMIN');
    const lobby = await connected(connect(app.baseUrl));
    await request(lobby, 'drops:watch');
    const changes = collect<{ title: string }>(lobby, 'drops:changed');
    const body = { title: 'Secret draft', totalSlots: 3, isActive: false, claimWindowStart: new Date(Date.now() + 60_000).toISOString(), claimWindowEnd: new Date(Date.now() + 120_000).toISOString() };
    const draft = await api('POST', '/api/admin/drops', { token: admin.token, body });
    const published = next(lobby, 'drops:changed', (d: any) => d.id === draft.body.id);
    await api('PATCH', `/api/admin/drops/${draft.body.id}`, { token: admin.token, body: { isActive: true } });
    await published;
    expect(changes.filter((d) => d.title === 'Secret draft' && !(d as any).isActive)).toEqual([]);
    const withdrawn = next(lobby, 'drops:deleted', (d: any) => d.dropId === draft.body.id);
    await api('PATCH', `/api/admin/drops/${draft.body.id}`, { token: admin.token, body: { isActive: false } });
    await withdrawn;
  });

  it('tells the watchers of a drop gone back to draft only that it is gone, and its later edits reach nobody but admins', async () => {
    const admin = await createUser(app, 'ADMIN');
    const drop = await createDrop(app, { title: 'Public title' });
    const watcher = await connected(connect(app.baseUrl));
    expect((await request(watcher, 'drop:watch', { dropId: drop.id })).ok).toBe(true);
    const consoleSocket = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: admin.token } }));
    const heard: unknown[] = [];
    watcher.onAny((event: string, payload: unknown) => heard.push({ event, payload }));
    const gone = next(watcher, 'drop:gone');
    await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { isActive: false, title: 'Secret draft', description: 'Not for the public yet.' } });
    expect(await gone).toEqual({ dropId: drop.id });

    const adminSaw = next(consoleSocket, 'drop:window', (event: { drop?: { title: string } }) => event.drop?.title === 'Renamed in draft');
    await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { title: 'Renamed in draft' } });
    await adminSaw;
    // An ack is sent after everything the server emitted to this socket before it.
    expect((await request(watcher, 'drops:unwatch')).ok).toBe(true);
    expect(JSON.stringify(heard)).not.toMatch(/Secret draft|Not for the public|Renamed in draft/);
    expect(heard.filter((h) => (h as { event: string }).event !== 'drop:counts')).toEqual([{ event: 'drop:gone', payload: { dropId: drop.id } }]);
  });

  it('tells the lobby about created, changed and deleted drops', async () => {
    const admin = await createUser(app, 'ADMIN');
    const lobby = await connected(connect(app.baseUrl));
    const list = await request(lobby, 'drops:watch');
    expect(list.ok && Array.isArray(list.data.drops)).toBe(true);
    const created = next(lobby, 'drops:changed', (d: { title: string }) => d.title === 'Lobby test');
    const res = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Lobby test', totalSlots: 3, claimWindowStart: new Date(Date.now() + 60_000).toISOString(), claimWindowEnd: new Date(Date.now() + 120_000).toISOString() },
    });
    await created;
    const deleted = next(lobby, 'drops:deleted', (d: { dropId: string }) => d.dropId === res.body.id);
    await api('DELETE', `/api/admin/drops/${res.body.id}`, { token: admin.token });
    await deleted;
  });
});

describe('who may connect', () => {
  it('refuses non-admins on /admin and /events, with the HTTP codes', async () => {
    const user = await createUser(app);
    expect(await refusal(connect(app.baseUrl, { namespace: '/admin' }))).toBe('UNAUTHENTICATED');
    expect(await refusal(connect(app.baseUrl, { namespace: '/admin', auth: { token: user.token } }))).toBe('FORBIDDEN');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events' }))).toBe('UNAUTHENTICATED');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events', auth: { token: user.token } }))).toBe('FORBIDDEN');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events', auth: { token: 'dsk_not-a-real-token' } }))).toBe('TOKEN_INVALID');
  });

  it('an expired token is told so, keeps watching, and re-authenticates without losing its rooms', async () => {
    const drop = await createDrop(app, { totalSlots: 3 });
    const user = await createUser(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const { sid } = jwt.decode(user.token) as { sid: string };
    const expired = jwt.sign({ role: 'USER', sid, exp: Math.floor(Date.now() / 1000) - 5 }, TEST_SECRET, { subject: user.id, issuer: 'dropspot', audience: 'dropspot-api' });
    const socket = connect(app.baseUrl, { auth: { token: expired } });
    const told = next(socket, 'session:expired');
    await connected(socket);
    expect((await told).code).toBe('TOKEN_EXPIRED');
    await request(socket, 'drop:watch', { dropId: drop.id });
    expect(await request(socket, 'drop:claim', { dropId: drop.id })).toMatchObject({ ok: false, code: 'UNAUTHENTICATED' });

    expect(await request(socket, 'auth', { token: user.token })).toEqual({ ok: true, data: { userId: user.id, role: 'USER' } });
    const counted = next(socket, 'drop:counts', (c: { remaining: number }) => c.remaining === 2);
    expect((await request(socket, 'drop:claim', { dropId: drop.id })).ok).toBe(true);
    await counted; // still in the room it joined before re-authenticating
  });

  it('a revoked session stops working on the socket at once', async () => {
    const signup = await api('POST', '/api/auth/signup', { body: { email: `rev-${Date.now()}@test.dropspot`, password: 'a long password' } });
    const socket = await connected(connect(app.baseUrl, { auth: { token: signup.body.accessToken } }));
    await api('POST', '/api/auth/logout', { token: signup.body.accessToken });
    const told = next(socket, 'session:expired');
    expect(await request(socket, 'drop:join', { dropId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ ok: false, code: 'SESSION_REVOKED' });
    expect((await told).code).toBe('SESSION_REVOKED');
  });

  it('survives a malformed cookie in the handshake and treats the socket as a visitor', async () => {
    const socket = await connected(connect(app.baseUrl, { headers: { cookie: 'ds_access=%E0%A4%A' } }));
    expect((await request(socket, 'drops:watch')).ok).toBe(true);
    expect((await api('GET', '/healthz')).status).toBe(200);
  });

  it('after logout, the socket stops receiving the user\'s personal events', async () => {
    const drop = await createDrop(app, { totalSlots: 3 });
    const signup = await api('POST', '/api/auth/signup', { body: { email: `out-${Date.now()}@test.dropspot`, password: 'a long password' } });
    const socket = await connected(connect(app.baseUrl, { auth: { token: signup.body.accessToken } }));
    const personal = collect(socket, 'me:claim');
    const told = next(socket, 'session:expired');
    await api('POST', '/api/auth/logout', { token: signup.body.accessToken });
    expect((await told).code).toBe('SESSION_REVOKED');
    // The same user signs in elsewhere and claims: the signed-out socket hears nothing of it.
    const login = await api('POST', '/api/auth/login', { body: { email: signup.body.user.email, password: 'a long password' } });
    await addToWaitlist(app, drop.id, [signup.body.user.id]);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: login.body.accessToken })).status).toBe(201);
    // Proves an absence: only waiting a while can show that no personal event arrives.
    await sleep(400);
    expect(personal).toEqual([]);
    const watched = await request(socket, 'drop:watch', { dropId: drop.id });
    expect(watched.ok && watched.data.drop.me).toBeUndefined();
  });

  it('a demoted admin loses /admin and /events within seconds', async () => {
    const admin = await createUser(app, 'ADMIN');
    const stream = await connected(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token } }));
    const consoleSocket = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: admin.token } }));
    const goneStream = new Promise((resolve) => stream.once('disconnect', resolve));
    const goneConsole = new Promise((resolve) => consoleSocket.once('disconnect', resolve));
    await app.orm.em.fork().execute(`update "user" set role = 'USER' where id = ?`, [admin.id]);
    expect(await goneStream).toBe('io server disconnect');
    expect(await goneConsole).toBe('io server disconnect');
  });

  it('ends only /admin when its token expires: the default namespace of the same connection keeps running', async () => {
    const admin = await createUser(app, 'ADMIN');
    const { sid } = jwt.decode(admin.token) as { sid: string };
    const shortLived = signAccessToken(TEST_SECRET, 3, { sub: admin.id, role: 'ADMIN', sid });
    const manager = new Manager(app.baseUrl, { transports: ['websocket'], reconnection: false });
    const main = manager.socket('/', { auth: { token: admin.token } });
    const consoleSocket = manager.socket('/admin', { auth: { token: shortLived } });
    try {
      await connected(main);
      await connected(consoleSocket);
      const told = next<{ code: string }>(consoleSocket, 'session:expired', () => true, 15_000);
      const ended = new Promise((resolve) => consoleSocket.once('disconnect', resolve));
      expect((await told).code).toBe('TOKEN_EXPIRED');
      expect(await ended).toBe('io server disconnect');
      expect(main.connected).toBe(true);
      expect(await main.timeout(5000).emitWithAck('drops:watch')).toMatchObject({ ok: true });
      // The console comes back on the same connection with a fresh token.
      consoleSocket.auth = { token: admin.token };
      await connected(consoleSocket.connect());
      expect(main.connected).toBe(true);
    } finally {
      main.close();
      consoleSocket.close();
    }
  });

  it('refuses a lastEventId ahead of the stream instead of staying silent', async () => {
    const admin = await createUser(app, 'ADMIN');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: 1e12 } }))).toBe('VALIDATION_FAILED');
    expect(await refusal(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: 'x' } }))).toBe('VALIDATION_FAILED');
  });

  it('checks the Origin of browser connections against the CORS config', async () => {
    const evil = connect(app.baseUrl, { headers: { origin: 'https://evil.example' } });
    await expect(connected(evil)).rejects.toThrow();
    await connected(connect(app.baseUrl, { headers: { origin: app.baseUrl } }));
  });
});

describe('per-socket limits', () => {
  it('answers RATE_LIMITED past the event rate and disconnects a flood', async () => {
    const limited = await startTestApp({}, { eventsPerSecond: 5, eventsPerIpPerSecond: 5, floodStrikes: 10 });
    try {
      const socket = await connected(connect(limited.baseUrl));
      const acks = await Promise.all(Array.from({ length: 8 }, () => request(socket, 'drops:watch')));
      expect(acks.filter((a) => a.ok)).toHaveLength(5);
      expect(acks.filter((a) => !a.ok).every((a) => !a.ok && a.code === 'RATE_LIMITED')).toBe(true);
      const gone = new Promise((resolve) => socket.once('disconnect', resolve));
      for (let i = 0; i < 30; i++) socket.emit('drops:watch', () => {});
      expect(await gone).toBe('io server disconnect');
    } finally {
      await limited.close();
    }
  });

  it('drops a connection that sends a payload over the limit', async () => {
    const limited = await startTestApp({}, { maxPayloadBytes: 2000 });
    try {
      const socket = await connected(connect(limited.baseUrl));
      const gone = new Promise((resolve) => socket.once('disconnect', resolve));
      socket.emit('drop:watch', { dropId: 'x'.repeat(10_000) });
      expect(await gone).toBe('transport close');
    } finally {
      await limited.close();
    }
  });
});

describe('per-user and per-address limits', () => {
  it('refuses the 21st connection of one user with TOO_MANY_CONNECTIONS, and takes one again once a socket closes', async () => {
    const user = await createUser(app);
    const sockets = Array.from({ length: 20 }, () => connect(app.baseUrl, { auth: { token: user.token } }));
    await Promise.all(sockets.map((socket) => connected(socket)));
    expect(await refusal(connect(app.baseUrl, { auth: { token: user.token } }))).toBe('TOO_MANY_CONNECTIONS');
    const closed = new Promise((resolve) => sockets[0]!.once('disconnect', resolve));
    sockets[0]!.close();
    await closed;
    await vi.waitFor(() => connected(connect(app.baseUrl, { auth: { token: user.token } })));
  });

  it('one user\'s sockets share one event budget', async () => {
    const user = await createUser(app);
    const sockets = await Promise.all(Array.from({ length: 10 }, () => connected(connect(app.baseUrl, { auth: { token: user.token } }))));
    const acks = await Promise.all(sockets.flatMap((socket) => Array.from({ length: 5 }, () => request(socket, 'drops:watch'))));
    expect(acks.filter((a) => a.ok)).toHaveLength(20);
    expect(acks.filter((a) => !a.ok).every((a) => !a.ok && a.code === 'RATE_LIMITED')).toBe(true);
  });

  it('anonymous sockets of one address share its connection cap and its event budget', async () => {
    const limited = await startTestApp({ SOCKET_CONNECTIONS_PER_IP: '3', SOCKET_EVENTS_PER_IP_PER_SECOND: '10' });
    try {
      const sockets = await Promise.all(Array.from({ length: 3 }, () => connected(connect(limited.baseUrl))));
      expect(await refusal(connect(limited.baseUrl))).toBe('TOO_MANY_CONNECTIONS');
      const acks = await Promise.all(sockets.flatMap((socket) => Array.from({ length: 10 }, () => request(socket, 'drops:watch'))));
      expect(acks.filter((a) => a.ok)).toHaveLength(10);
    } finally {
      await limited.close();
    }
  });
});
