import { afterEach, describe, expect, it } from 'vitest';
import { INTERNAL_HOP } from '@dropspot/protocol';
import { client, createDrop, createUser, createUsers, startTestApp, uniqueEmail, type TestApp } from './support/app.ts';
import { closeSockets, connect, connected, request } from './support/sockets.ts';

/**
 * Abuse of the business flow (OWASP API6): signup, login, join and claim are limited per IP and
 * per account, answered with 429 + Retry-After (RATE_LIMITED + retryAfter on sockets), and the
 * limits count HTTP and socket requests together.
 */
const apps: TestApp[] = [];
afterEach(async () => {
  closeSockets();
  for (const app of apps.splice(0)) await app.close();
});

async function limitedApp(env: Record<string, string>) {
  const app = await startTestApp(env);
  apps.push(app);
  return { app, api: client(app.baseUrl) };
}

const NO_DROP = '00000000-0000-4000-8000-000000000000';

describe('per-account limits', () => {
  it('claims: HTTP and socket requests share one per-user counter, then 429 with Retry-After / RATE_LIMITED with retryAfter', async () => {
    const { app, api } = await limitedApp({ RATE_LIMIT_CLAIM_PER_MINUTE: '3' });
    const user = await createUser(app);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    expect((await api('POST', `/api/drops/${NO_DROP}/claim`, { token: user.token })).status).toBe(404);
    expect((await request(socket, 'drop:claim', { dropId: NO_DROP })).ok).toBe(false);
    expect((await api('POST', `/api/drops/${NO_DROP}/claim`, { token: user.token })).status).toBe(404);
    const overSocket = await request(socket, 'drop:claim', { dropId: NO_DROP });
    expect(overSocket).toMatchObject({ ok: false, code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
    const overHttp = await api('POST', `/api/drops/${NO_DROP}/claim`, { token: user.token });
    expect([overHttp.status, overHttp.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(overHttp.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another account is not affected.
    const other = await createUser(app);
    expect((await api('POST', `/api/drops/${NO_DROP}/claim`, { token: other.token })).status).toBe(404);
  });

  it('joins and leaves: limited per user across both transports', async () => {
    const { app, api } = await limitedApp({ RATE_LIMIT_WAITLIST_PER_MINUTE: '2' });
    const drop = await createDrop(app);
    const user = await createUser(app);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    expect(await request(socket, 'drop:leave', { dropId: drop.id })).toMatchObject({ ok: true });
    const third = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(await request(socket, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
  });

  it('login: backoff per account and client address (see auth.test.ts), and per-IP limits on signup', async () => {
    const { api } = await limitedApp({ RATE_LIMIT_AUTH_PER_MINUTE: '2' });
    const signup = () => api('POST', '/api/auth/signup', { body: { email: uniqueEmail(), password: 'long enough password' } });
    expect((await signup()).status).toBe(201);
    expect((await signup()).status).toBe(201);
    const third = await signup();
    expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('per-IP limits across accounts', () => {
  it('many accounts from one address are limited together on join and claim, over HTTP and sockets', async () => {
    const { app, api } = await limitedApp({ RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE: '4' });
    const users = await createUsers(app, 6);
    const drop = await createDrop(app);
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: users[0]!.token })).status).toBe(201);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: users[1]!.token })).status).toBe(409);
    const socket = await connected(connect(app.baseUrl, { auth: { token: users[2]!.token } }));
    expect(await request(socket, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: true });
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: users[3]!.token })).status).toBe(201);
    const fifth = await api('POST', `/api/drops/${drop.id}/join`, { token: users[4]!.token });
    expect([fifth.status, fifth.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0);
    const sixth = await connected(connect(app.baseUrl, { auth: { token: users[5]!.token } }));
    expect(await request(sixth, 'drop:claim', { dropId: drop.id })).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
  });
});

describe('per-IP limits behind a reverse proxy (TRUST_PROXY)', () => {
  it('count the client address from X-Forwarded-For, the same for HTTP and sockets', async () => {
    const { app, api } = await limitedApp({ RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE: '2', TRUST_PROXY: 'loopback' });
    const users = await createUsers(app, 5);
    const drop = await createDrop(app);
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: users[0]!.token, headers: from('203.0.113.1') })).status).toBe(201);
    const socket = await connected(connect(app.baseUrl, { auth: { token: users[1]!.token }, headers: from('203.0.113.1') }));
    expect(await request(socket, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: true });
    // The third from that client is refused, over either transport; another client is not.
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: users[2]!.token, headers: from('203.0.113.1') })).status).toBe(429);
    const again = await connected(connect(app.baseUrl, { auth: { token: users[2]!.token }, headers: from('203.0.113.1') }));
    expect(await request(again, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
    const elsewhere = await connected(connect(app.baseUrl, { auth: { token: users[3]!.token }, headers: from('198.51.100.7') }));
    expect(await request(elsewhere, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: true });
  });
});

describe('burst counters feed the priority score', () => {
  it('join, leave and claim requests over HTTP and sockets count as rapid actions when they change something, refused ones not', async () => {
    const { app, api } = await limitedApp({});
    const [a, b, c] = [await createDrop(app), await createDrop(app), await createDrop(app)];
    const user = await createUser(app);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    // Refused: a claim while not on the waitlist, a join of a drop that does not exist, a leave of a waitlist one is not on.
    expect(await request(socket, 'drop:claim', { dropId: b.id })).toMatchObject({ ok: false, code: 'NOT_ON_WAITLIST' });
    expect((await api('POST', `/api/drops/${NO_DROP}/join`, { token: user.token })).status).toBe(404);
    expect((await api('POST', `/api/drops/${b.id}/leave`, { token: user.token })).body).toEqual({ left: false });
    // Counted: a join over the socket, a leave over HTTP, a join over HTTP and the claim it allows over the socket.
    expect(await request(socket, 'drop:join', { dropId: a.id })).toMatchObject({ ok: true });
    expect((await api('POST', `/api/drops/${a.id}/leave`, { token: user.token })).body).toEqual({ left: true });
    expect((await api('POST', `/api/drops/${b.id}/join`, { token: user.token })).status).toBe(201);
    expect(await request(socket, 'drop:claim', { dropId: b.id })).toMatchObject({ ok: true });
    const joined = await api('POST', `/api/drops/${c.id}/join`, { token: user.token });
    expect(joined.status).toBe(201);
    const { breakdown } = joined.body.entry;
    expect(breakdown.rapidActions).toBe(4);
    expect(breakdown.terms.rapidActions + (4 % breakdown.coefficients.C)).toBe(0);
  });
});

describe("per-IP limits for the web client's form actions (the in-process hop)", () => {
  it("count against the visitor's address the hop carries, and only next to the process key", async () => {
    const { api } = await limitedApp({ RATE_LIMIT_AUTH_PER_MINUTE: '2' });
    const key = (globalThis as Record<symbol, string | undefined>)[INTERNAL_HOP.keySymbol];
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const signup = (headers: Record<string, string>) => api('POST', '/api/auth/signup', { body: { email: uniqueEmail(), password: 'long enough password' }, headers });
    const visitor = (address: string) => ({ [INTERNAL_HOP.keyHeader]: key!, [INTERNAL_HOP.addressHeader]: address });
    expect((await signup(visitor('203.0.113.1'))).status).toBe(201);
    expect((await signup(visitor('203.0.113.1'))).status).toBe(201);
    expect((await signup(visitor('203.0.113.1'))).status).toBe(429);
    // Another visitor whose form goes through the same server process is not held back by the first.
    expect((await signup(visitor('198.51.100.7'))).status).toBe(201);
    // Without the key the address header means nothing: these count for the address they came from.
    const forged = { [INTERNAL_HOP.keyHeader]: 'f'.repeat(64), [INTERNAL_HOP.addressHeader]: '192.0.2.9' };
    expect((await signup(forged)).status).toBe(201);
    expect((await signup({})).status).toBe(201);
    const third = await signup(forged);
    expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
  });
});
