import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Namespace } from 'socket.io';
import { addToWaitlist, createDrop, createUser, createUsers, useTestApp } from './support/app.ts';
import { connect, connected, refusal, request, sleep } from './support/sockets.ts';
import { routerRoutes } from './support/routes.ts';

/**
 * Function level authorization from one list: the routes and socket handlers are read from the
 * running app (Express's router stack, the handlers a connected socket has), so a route or an
 * event added later is checked without anyone remembering to add it here.
 */
const { app, api } = useTestApp();
let admin: Awaited<ReturnType<typeof createUser>>;
let user: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
  user = await createUser(app);
});

const routes = () => routerRoutes(app);

/** Anyone may call these; every other route must refuse an anonymous caller. */
const PUBLIC = new Set([
  'GET /healthz',
  'GET /readyz',
  'POST /api/auth/signup',
  'POST /api/auth/login',
  'POST /api/auth/refresh',
  'POST /api/auth/logout',
  'GET /api/drops/',
  'GET /api/drops/:id',
  'GET /api/priority',
  'GET /api/drops/:id/ranking',
  'GET /api/drops/:id/calendar.ics',
  'POST /api/auth/verify-email',
  'POST /api/auth/forgot-password',
  'POST /api/auth/reset-password',
  // The proof-of-work gate: whether signup needs a solution, and a challenge to solve.
  'GET /api/auth/signup',
  'GET /api/altcha/challenge',
  // The API's own descriptions and the reference page.
  'GET /api/openapi.json',
  'GET /api/asyncapi.json',
  'GET /api/docs',
  'GET /api/docs/scalar.js',
]);

/** A well-formed payload for every /admin event, so each reaches its session check. */
const ADMIN_PAYLOADS: Record<string, (dropId: string) => Record<string, unknown>> = {
  'window:action': (dropId) => ({ dropId, action: 'pause' }),
  'reservations:list': (dropId) => ({ dropId }),
  'holds:extend': (dropId) => ({ dropId, seconds: 60 }),
};

const SOME_ID = '00000000-0000-4000-8000-000000000000';
const concrete = (path: string) => path.replace(':id', SOME_ID).replace(':code', 'AAAA-BBBB-CCCC').replace(/\/$/, '') || '/';

describe('function level: every HTTP route from the router', () => {
  it('finds the routes (the walk itself works)', () => {
    const all = routes().map((r) => `${r.method} ${r.path}`);
    expect(all).toContain('POST /api/admin/drops/:id/window');
    expect(all).toContain('GET /api/admin/audit');
    expect(all).toContain('DELETE /api/me/');
    expect(all.filter((r) => r.includes('/api/admin/')).length).toBeGreaterThanOrEqual(13);
    for (const name of PUBLIC) expect(all, `${name} is listed as public but does not exist`).toContain(name);
  });

  it('every admin route: 401 anonymous, 403 for a user, and the database is unchanged', async () => {
    const adminRoutes = routes().filter((r) => r.path.startsWith('/api/admin/'));
    const fingerprint = async () =>
      JSON.stringify(
        await app.orm.em
          .fork()
          .execute(
            `select (select count(*) from "drop") d, (select max(updated_at) from "drop") u, (select count(*) from "api_token" where revoked_at is null) t, (select count(*) from "claim" where status = 'USED') r, (select count(*) from "audit_log") a`,
          ),
      );
    const before = await fingerprint();
    const checked: string[] = [];
    for (const { method, path } of adminRoutes) {
      const url = concrete(path);
      const body = method === 'GET' || method === 'DELETE' ? undefined : { action: 'pause', title: 'x', name: 'x', totalSlots: 1 };
      const anon = await api(method, url, { body });
      expect([anon.status, anon.body.code], `${method} ${path} anonymous`).toEqual([401, 'UNAUTHENTICATED']);
      const asUser = await api(method, url, { token: user.token, body });
      expect([asUser.status, asUser.body.code], `${method} ${path} as a user`).toEqual([403, 'FORBIDDEN']);
      checked.push(`${method} ${path}`);
    }
    expect(await fingerprint()).toBe(before);
    console.log(`authorization: ${checked.length} admin routes refused anonymous (401) and user (403) callers`);
  });

  it('every route that is not on the public list refuses an anonymous caller with 401', async () => {
    const privateRoutes = routes().filter((r) => !PUBLIC.has(`${r.method} ${r.path}`));
    expect(privateRoutes.length).toBeGreaterThan(20);
    for (const { method, path } of privateRoutes) {
      const res = await api(method, concrete(path), { body: method === 'GET' ? undefined : {} });
      expect([res.status, res.body.code], `${method} ${path}`).toEqual([401, 'UNAUTHENTICATED']);
    }
  });
});

/** The events a connected socket of this namespace has handlers for, read from the server. */
async function handledEvents(namespace: string, token?: string): Promise<string[]> {
  const socket = await connected(connect(app.baseUrl, { namespace, auth: token ? { token } : {} }));
  const ns = app.realtime.io.of(namespace) as unknown as Namespace;
  const serverSide = ns.sockets.get(socket.id!)!;
  socket.close();
  return serverSide.eventNames().map(String).filter((name) => !['disconnect', 'disconnecting', 'error'].includes(name));
}

describe('function level: every socket action', () => {
  it('/admin and /events refuse anonymous (UNAUTHENTICATED) and user (FORBIDDEN) sockets before any action', async () => {
    const adminEvents = await handledEvents('/admin', admin.token);
    expect(adminEvents.sort()).toEqual(Object.keys(ADMIN_PAYLOADS).sort());
    for (const namespace of ['/admin', '/events']) {
      expect(await refusal(connect(app.baseUrl, { namespace })), `${namespace} anonymous`).toBe('UNAUTHENTICATED');
      expect(await refusal(connect(app.baseUrl, { namespace, auth: { token: user.token } })), `${namespace} user`).toBe('FORBIDDEN');
      expect(await refusal(connect(app.baseUrl, { namespace, auth: { token: 'dsk_forged' } })), `${namespace} forged API token`).toMatch(/TOKEN_INVALID|UNAUTHENTICATED/);
    }
  });

  it('every /admin action checks the session again: a signed-out admin\'s open socket is refused', async () => {
    const [leaving] = await createUsers(app, 1, 'ADMIN');
    const drop = await createDrop(app);
    const socket = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: leaving!.token } }));
    await app.services.auth.logout({ sessionId: (await app.services.auth.authenticate(leaving!.token, 'bearer')).sessionId });
    await vi.waitFor(() => expect(app.services.auth.authenticate(leaving!.token, 'bearer')).rejects.toMatchObject({ code: 'SESSION_REVOKED' }));
    for (const event of await handledEvents('/admin', admin.token)) {
      const ack = await request(socket, event, ADMIN_PAYLOADS[event]!(drop.id));
      expect(ack, event).toMatchObject({ ok: false, code: 'SESSION_REVOKED' });
    }
    const row = await app.orm.em.fork().execute<{ paused_at: Date | null }[]>('select paused_at from "drop" where id = ?', [drop.id]);
    expect(row[0]!.paused_at).toBeNull();
  });

  it('every default-namespace action that acts for a user refuses a visitor with UNAUTHENTICATED', async () => {
    const drop = await createDrop(app);
    const visitorOnly = new Set(['auth', 'drops:watch', 'drops:unwatch', 'drop:watch', 'drop:unwatch']);
    const userEvents = (await handledEvents('/')).filter((e) => !visitorOnly.has(e));
    expect(userEvents.sort()).toEqual(['drop:claim', 'drop:join', 'drop:leave']);
    const visitor = await connected(connect(app.baseUrl));
    for (const event of userEvents) {
      expect(await request(visitor, event, { dropId: drop.id }), event).toMatchObject({ ok: false, code: 'UNAUTHENTICATED' });
    }
  });
});

describe('object level', () => {
  it('a user sees only their own claim, waitlist entry, position and export, and cannot redeem', async () => {
    const drop = await createDrop(app);
    const [owner, stranger] = await createUsers(app, 2);
    await addToWaitlist(app, drop.id, [owner!.id]);
    const claim = (await api('POST', `/api/drops/${drop.id}/claim`, { token: owner!.token })).body.claim;

    const seen = await api('GET', `/api/drops/${drop.id}`, { token: stranger!.token });
    expect(seen.body.me).toEqual({ waitlist: null, claim: null });
    expect((await api('GET', `/api/drops/${drop.id}/position`, { token: stranger!.token })).body.code).toBe('NOT_ON_WAITLIST');
    expect((await api('GET', '/api/me/claims', { token: stranger!.token })).body.items).toEqual([]);
    expect((await api('GET', '/api/me/waitlists', { token: stranger!.token })).body.items).toEqual([]);
    const exported = JSON.stringify((await api('GET', '/api/me/export', { token: stranger!.token })).body);
    expect(exported).not.toContain(claim.code);
    expect(exported).not.toContain(owner!.id);
    // The public view of the drop carries no one's codes or ids.
    const visitor = JSON.stringify((await api('GET', `/api/drops/${drop.id}`)).body);
    expect(visitor).not.toContain(claim.code);
    expect(visitor).not.toContain(owner!.id);
    // Redeeming is an admin's job, whoever holds the code.
    expect((await api('POST', `/api/admin/claims/${claim.code}/redeem`, { token: stranger!.token })).status).toBe(403);
    expect((await api('POST', `/api/admin/claims/${claim.code}/redeem`, { token: owner!.token })).status).toBe(403);
    // A socket of the stranger never hears the owner's personal events.
    const strangerSocket = await connected(connect(app.baseUrl, { auth: { token: stranger!.token } }));
    const heard: unknown[] = [];
    strangerSocket.on('me:claim', (c) => heard.push(c));
    await request(strangerSocket, 'drop:watch', { dropId: drop.id });
    await addToWaitlist(app, drop.id, [stranger!.id]);
    await api('POST', `/api/admin/claims/${claim.code}/redeem`, { token: admin.token });
    // Proves an absence: only waiting a while can show that the stranger hears nothing.
    await sleep(300);
    expect(heard).toEqual([]);
  });

  it('ids are random UUIDs (v4) and codes come from a CSPRNG alphabet: nothing to enumerate', async () => {
    const drop = await createDrop(app, { totalSlots: 20 });
    const users = await createUsers(app, 20);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    const claims = await Promise.all(users.map((u) => api('POST', `/api/drops/${drop.id}/claim`, { token: u.token })));
    const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const ids = [drop.id, ...claims.map((c) => c.body.claim.id as string)];
    for (const id of ids) expect(id).toMatch(V4);
    const codes = claims.map((c) => c.body.claim.code as string);
    expect(new Set(codes).size).toBe(codes.length);
    // Neighbouring claims share no prefix pattern: codes issued in one batch are not sequential.
    const prefixes = new Set(codes.map((c) => c.slice(0, 4)));
    expect(prefixes.size).toBeGreaterThan(15);
    const signedUp = await api('POST', '/api/auth/signup', { body: { email: `ids-${Date.now()}@test.dropspot`, password: 'long enough password' } });
    expect(signedUp.body.user.id).toMatch(V4);
  });
});
