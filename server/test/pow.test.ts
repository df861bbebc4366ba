import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pruneExpiredRows } from '../src/db/maintenance.ts';
import { client, createDrop, createUser, startTestApp, uniqueEmail, type TestApp } from './support/app.ts';
import { closeSockets, connect, connected, request } from './support/sockets.ts';

let app: TestApp;
let api: ReturnType<typeof client>;
/** The same database without the signup gate (the default outside production). */
let open: TestApp;
let openApi: ReturnType<typeof client>;

// A low cost so each solve takes milliseconds; the mechanism is the same at any cost.
const powEnv = { ALTCHA_MAX_NUMBER: '200', REQUIRE_POW_SIGNUP: 'true' };

beforeAll(async () => {
  app = await startTestApp(powEnv);
  api = client(app.baseUrl);
  open = await startTestApp({ ALTCHA_MAX_NUMBER: '200' });
  openApi = client(open.baseUrl);
});
afterAll(async () => {
  await app.close();
  await open.close();
});
afterEach(() => closeSockets());

/** What the widget does in the page: fetch a challenge, solve it, send base64 of {challenge, solution}. */
async function solved(from = api): Promise<string> {
  const res = await from<Challenge>('GET', '/api/altcha/challenge');
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const solution = await solveChallenge({ challenge: res.body, deriveKey });
  expect(solution).not.toBeNull();
  return Buffer.from(JSON.stringify({ challenge: { parameters: res.body.parameters, signature: res.body.signature }, solution })).toString('base64');
}

const signup = (altcha?: string, from = api) => from('POST', '/api/auth/signup', { body: { email: uniqueEmail('pow'), password: 'a good long password', ...(altcha === undefined ? {} : { altcha }) } });

describe('proof of work on signup', () => {
  it('signs up with a solved challenge, and refuses the same solution a second time (400 POW_REPLAYED)', async () => {
    const altcha = await solved();
    const first = await signup(altcha);
    expect(first.status).toBe(201);
    const again = await signup(altcha);
    expect([again.status, again.body.code]).toEqual([400, 'POW_REPLAYED']);
    // Another server process on the same database refuses it too: the spent signature is in PostgreSQL.
    await expect(open.services.pow.redeem(altcha)).rejects.toMatchObject({ code: 'POW_REPLAYED' });
  });

  it('refuses signup without a solution (400 POW_REQUIRED) and with a wrong one (400 POW_INVALID)', async () => {
    expect((await api('GET', '/api/auth/signup')).body).toEqual({ requirePow: true });
    const missing = await signup();
    expect([missing.status, missing.body.code]).toEqual([400, 'POW_REQUIRED']);

    const payload = JSON.parse(Buffer.from(await solved(), 'base64').toString()) as { solution: { counter: number; derivedKey: string } };
    // The derived key is the proof (its HMAC is in the signed challenge): one bit off is no solution.
    const key = payload.solution.derivedKey;
    const wrongKey = { ...payload, solution: { ...payload.solution, derivedKey: key.slice(0, -1) + (key.endsWith('0') ? '1' : '0') } };
    const wrong = await signup(Buffer.from(JSON.stringify(wrongKey)).toString('base64'));
    expect([wrong.status, wrong.body.code]).toEqual([400, 'POW_INVALID']);

    // Solved against another server's key: the signature is not ours.
    const foreign = await startTestApp({ ALTCHA_MAX_NUMBER: '200', ALTCHA_HMAC_KEY: 'another-key-that-is-long-enough-0123456789' });
    try {
      const theirs = await signup(await solved(client(foreign.baseUrl)));
      expect([theirs.status, theirs.body.code]).toEqual([400, 'POW_INVALID']);
    } finally {
      await foreign.close();
    }

    const garbage = await signup('bm90IGpzb24=');
    expect([garbage.status, garbage.body.code]).toEqual([400, 'POW_INVALID']);
    const notBase64 = await signup('{"challenge":1}');
    expect([notBase64.status, notBase64.body.code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('signs up without proof of work when REQUIRE_POW_SIGNUP is off', async () => {
    expect((await openApi('GET', '/api/auth/signup')).body).toEqual({ requirePow: false });
    const res = await signup(undefined, openApi);
    expect(res.status).toBe(201);
  });

  it('limits challenges per address (429 RATE_LIMITED)', async () => {
    const limited = await startTestApp({ RATE_LIMIT_POW_CHALLENGE_PER_MINUTE: '2' });
    try {
      const limitedApi = client(limited.baseUrl);
      expect((await limitedApi('GET', '/api/altcha/challenge')).status).toBe(200);
      expect((await limitedApi('GET', '/api/altcha/challenge')).status).toBe(200);
      const third = await limitedApi('GET', '/api/altcha/challenge');
      expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
    } finally {
      await limited.close();
    }
  });
});

describe('proof of work on joining a drop that requires it', () => {
  it('refuses join without a solution over HTTP and socket (POW_REQUIRED), and joins with one', async () => {
    const drop = await createDrop(app, { requirePow: true });
    const user = await createUser(app);
    const http = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    expect([http.status, http.body.code]).toEqual([400, 'POW_REQUIRED']);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    expect(await request(socket, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: false, code: 'POW_REQUIRED' });

    const joined = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token, body: { altcha: await solved() } });
    expect(joined.status).toBe(201);

    const other = await createUser(app);
    const otherSocket = await connected(connect(app.baseUrl, { auth: { token: other.token } }));
    expect(await request(otherSocket, 'drop:join', { dropId: drop.id, altcha: await solved() })).toMatchObject({ ok: true, data: { created: true } });
  });

  it('refuses a replayed or wrong solution on join over HTTP and socket (POW_REPLAYED, POW_INVALID)', async () => {
    const drop = await createDrop(app, { requirePow: true });
    const [first, second, third] = [await createUser(app), await createUser(app), await createUser(app)];
    const altcha = await solved();
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: first.token, body: { altcha } })).status).toBe(201);
    const replayed = await api('POST', `/api/drops/${drop.id}/join`, { token: second.token, body: { altcha } });
    expect([replayed.status, replayed.body.code]).toEqual([400, 'POW_REPLAYED']);
    const socket = await connected(connect(app.baseUrl, { auth: { token: third.token } }));
    expect(await request(socket, 'drop:join', { dropId: drop.id, altcha })).toMatchObject({ ok: false, code: 'POW_REPLAYED' });
    expect(await request(socket, 'drop:join', { dropId: drop.id, altcha: 'bm90IGpzb24=' })).toMatchObject({ ok: false, code: 'POW_INVALID' });
  });

  it('joins a drop that does not require it without proof of work, and shows which drops do', async () => {
    const plain = await createDrop(app);
    const gated = await createDrop(app, { requirePow: true });
    const user = await createUser(app);
    expect((await api('POST', `/api/drops/${plain.id}/join`, { token: user.token })).status).toBe(201);
    expect((await api('GET', `/api/drops/${plain.id}`)).body).toMatchObject({ requirePow: false });
    expect((await api('GET', `/api/drops/${gated.id}`)).body).toMatchObject({ requirePow: true });
  });

  it('lets an admin require proof of work when creating or editing a drop', async () => {
    const admin = await createUser(app, 'ADMIN');
    const start = new Date(Date.now() + 3600_000);
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Gated', totalSlots: 5, claimWindowStart: start.toISOString(), claimWindowEnd: new Date(start.getTime() + 3600_000).toISOString(), requirePow: true },
    });
    expect([created.status, created.body.requirePow]).toEqual([201, true]);
    const edited = await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { requirePow: false } });
    expect([edited.status, edited.body.requirePow]).toEqual([200, false]);
  });
});

describe('spent challenges', () => {
  it('keeps a spent signature until its challenge expires, then prunes it', async () => {
    await api('POST', '/api/auth/signup', { body: { email: uniqueEmail('pow'), password: 'a good long password', altcha: await solved() } });
    const em = app.orm.em.fork();
    const [live] = await em.execute<{ count: number }[]>(`select count(*)::int as count from "spent_challenge" where expires_at > now()`);
    expect(live?.count).toBeGreaterThan(0);
    await em.execute(`update "spent_challenge" set expires_at = now() - interval '1 second'`);
    const pruned = await pruneExpiredRows(app.orm);
    expect(pruned.spentChallenges).toBeGreaterThan(0);
    const [left] = await em.execute<{ count: number }[]>(`select count(*)::int as count from "spent_challenge"`);
    expect(left?.count).toBe(0);
  });
});
