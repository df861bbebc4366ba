import jwt from 'jsonwebtoken';
import { describe, expect, it, vi } from 'vitest';
import { REFRESH_GRACE_MS, SESSION_CACHE_MS } from '../src/modules/auth/auth.service.ts';
import { SessionSchema } from '../src/modules/auth/session.entity.ts';
import { UserSchema } from '../src/modules/users/user.entity.ts';
import { verifyPassword } from '../src/modules/auth/password.ts';
import type * as PasswordModule from '../src/modules/auth/password.ts';
import { TEST_SECRET, client, startTestApp, uniqueEmail, useTestApp } from './support/app.ts';

// The real password check, wrapped only to count how many passwords a burst gets checked.
vi.mock('../src/modules/auth/password.ts', async (original) => {
  const real = await original<typeof PasswordModule>();
  return { ...real, verifyPassword: vi.fn(real.verifyPassword) };
});

// Behind a proxy on loopback, so tests can speak from several client addresses (X-Forwarded-For).
const { app, api } = useTestApp({ TRUST_PROXY: 'loopback' });

async function signup(email = uniqueEmail(), password = 'a good long password') {
  const res = await api('POST', '/api/auth/signup', { body: { email, password } });
  expect(res.status).toBe(201);
  return { email, password, ...res.body };
}

function cookies(headers: Headers): Record<string, string> {
  return Object.fromEntries(headers.getSetCookie().map((line) => [line.split('=')[0], line]));
}

describe('signup', () => {
  it('creates a USER whatever role is sent, with tokens in the body and HttpOnly SameSite cookies', async () => {
    const email = uniqueEmail();
    const res = await api('POST', '/api/auth/signup', { body: { email, password: 'a good long password', role: 'ADMIN' } });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email, role: 'USER' });
    expect(typeof res.body.accessToken).toBe('string');
    expect(typeof res.body.refreshToken).toBe('string');
    expect(res.body.expiresIn).toBe(900);
    const set = cookies(res.headers);
    expect(set.ds_access).toMatch(/HttpOnly/);
    expect(set.ds_access).toMatch(/SameSite=Lax/);
    expect(set.ds_refresh).toMatch(/HttpOnly/);
    expect(set.ds_refresh).toMatch(/SameSite=Strict/);
    expect(set.ds_refresh).toMatch(/Path=\/api\/auth/);

    const stored = await app.orm.em.fork().findOneOrFail(UserSchema, { email });
    expect(stored.role).toBe('USER');
    expect(stored.passwordHash).toMatch(/^\$argon2id\$/);
  });

  it('refuses a taken email whatever its case (409 EMAIL_TAKEN)', async () => {
    const { email } = await signup();
    const res = await api('POST', '/api/auth/signup', { body: { email: email.toUpperCase(), password: 'another long password' } });
    expect([res.status, res.body.code]).toEqual([409, 'EMAIL_TAKEN']);
  });

  it('lists every invalid field (400 VALIDATION_FAILED)', async () => {
    const res = await api('POST', '/api/auth/signup', { body: { email: 'not-an-email', password: 'short' } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['email', 'password']);
  });
});

describe('login and me', () => {
  it('logs in case-insensitively and /me works with a bearer token and with the cookie', async () => {
    const { email, password } = await signup();
    const res = await api('POST', '/api/auth/login', { body: { email: email.toUpperCase(), password } });
    expect(res.status).toBe(200);
    const bearer = await api('GET', '/api/auth/me', { token: res.body.accessToken });
    expect(bearer.body.user.email).toBe(email);
    const cookie = await api('GET', '/api/auth/me', { headers: { cookie: `ds_access=${res.body.accessToken}` } });
    expect(cookie.body.user.email).toBe(email);
  });

  it('refuses a wrong password and an unknown email alike (401 INVALID_CREDENTIALS)', async () => {
    const { email } = await signup();
    const wrong = await api('POST', '/api/auth/login', { body: { email, password: 'not the password' } });
    const unknown = await api('POST', '/api/auth/login', { body: { email: uniqueEmail(), password: 'whatever it is' } });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect([unknown.status, unknown.body.code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(wrong.body.detail).toBe(unknown.body.detail);
  });

  it('refuses /me without, with expired, forged, alg:none and malformed tokens', async () => {
    const { user, accessToken } = await signup();
    const { sid } = jwt.decode(accessToken) as { sid: string };
    const claims = { role: 'USER', sid };
    const options = { subject: user.id, issuer: 'dropspot', audience: 'dropspot-api' };
    const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, TEST_SECRET, options);
    const forged = jwt.sign(claims, 'some-other-secret-that-is-long-enough-000000', { ...options, expiresIn: 60 });
    const none = jwt.sign(claims, '', { ...options, algorithm: 'none', expiresIn: 60 });
    const adminClaim = jwt.sign({ ...claims, role: 'ADMIN' }, 'wrong', { ...options, expiresIn: 60 });

    expect((await api('GET', '/api/auth/me')).body.code).toBe('UNAUTHENTICATED');
    expect((await api('GET', '/api/auth/me', { token: expired })).body.code).toBe('TOKEN_EXPIRED');
    for (const token of [forged, none, adminClaim, 'garbage']) {
      const res = await api('GET', '/api/auth/me', { token });
      expect([res.status, res.body.code]).toEqual([401, 'TOKEN_INVALID']);
    }
    const badHeader = await api('GET', '/api/auth/me', { headers: { authorization: 'Basic abc' } });
    expect(badHeader.body.code).toBe('TOKEN_INVALID');
  });

  it('refuses a token at its expiry and after logout, though its signature was checked (and remembered) before', async () => {
    const { user, accessToken } = await signup();
    const { sid } = jwt.decode(accessToken) as { sid: string };
    const options = { subject: user.id, issuer: 'dropspot', audience: 'dropspot-api' };
    const shortLived = jwt.sign({ role: 'USER', sid, exp: Math.floor(Date.now() / 1000) + 2 }, TEST_SECRET, options);
    expect((await api('GET', '/api/auth/me', { token: shortLived })).status).toBe(200);
    await vi.waitFor(
      async () => {
        const res = await api('GET', '/api/auth/me', { token: shortLived });
        expect([res.status, res.body.code]).toEqual([401, 'TOKEN_EXPIRED']);
      },
      { timeout: 5000, interval: 200 },
    );
    expect((await api('GET', '/api/auth/me', { token: accessToken })).status).toBe(200);
    expect((await api('POST', '/api/auth/logout', { token: accessToken })).status).toBe(204);
    const after = await api('GET', '/api/auth/me', { token: accessToken });
    expect([after.status, after.body.code]).toEqual([401, 'SESSION_REVOKED']);
  });

  it('refuses a correctly signed access token that has no expiry', async () => {
    const { user, accessToken } = await signup();
    const { sid } = jwt.decode(accessToken) as { sid: string };
    const forever = jwt.sign({ role: 'USER', sid }, TEST_SECRET, { subject: user.id, issuer: 'dropspot', audience: 'dropspot-api' });
    const res = await api('GET', '/api/auth/me', { token: forever });
    expect([res.status, res.body.code]).toEqual([401, 'TOKEN_INVALID']);
  });

  it('reads the role from the database, so a demoted admin loses admin routes within a second', async () => {
    const { user, accessToken } = await signup();
    await app.orm.em.fork().nativeUpdate(UserSchema, { id: user.id }, { role: 'ADMIN' });
    await new Promise((resolve) => setTimeout(resolve, SESSION_CACHE_MS + 50));
    expect((await api('GET', '/api/admin/drops', { token: accessToken })).status).toBe(200);
    await app.orm.em.fork().nativeUpdate(UserSchema, { id: user.id }, { role: 'USER' });
    await new Promise((resolve) => setTimeout(resolve, SESSION_CACHE_MS + 50));
    expect((await api('GET', '/api/admin/drops', { token: accessToken })).status).toBe(403);
  });
});

describe('refresh rotation and reuse detection', () => {
  it('rotates the refresh token; the old one then revokes the whole family', async () => {
    const first = await signup();
    const second = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect((await api('GET', '/api/auth/me', { token: second.body.accessToken })).status).toBe(200);

    const third = await api('POST', '/api/auth/refresh', { body: { refreshToken: second.body.refreshToken } });
    expect(third.status).toBe(200);

    // Replaying a rotated token: refused, and every token of the family dies with it.
    const replay = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect([replay.status, replay.body.code]).toEqual([401, 'REFRESH_TOKEN_REUSED']);
    const afterReplay = await api('POST', '/api/auth/refresh', { body: { refreshToken: third.body.refreshToken } });
    expect(afterReplay.body.code).toBe('REFRESH_TOKEN_REUSED');
    expect((await api('GET', '/api/auth/me', { token: third.body.accessToken })).body.code).toBe('SESSION_REVOKED');

    const sessions = await app.orm.em.fork().find(SessionSchema, { user: first.user.id });
    expect(sessions).toHaveLength(3);
    expect(sessions.every((s) => s.revokedAt !== null)).toBe(true);
    expect(sessions.every((s) => s.refreshTokenHash.length === 64 && s.refreshTokenHash !== first.refreshToken)).toBe(true);
  });

  it('keeps the old access token working after a rotation (other tabs), until logout ends the family', async () => {
    const first = await signup();
    const second = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect((await api('GET', '/api/auth/me', { token: first.accessToken })).status).toBe(200);
    expect((await api('POST', '/api/auth/logout', { token: second.body.accessToken })).status).toBe(204);
    expect((await api('GET', '/api/auth/me', { token: first.accessToken })).body.code).toBe('SESSION_REVOKED');
    expect((await api('GET', '/api/auth/me', { token: second.body.accessToken })).body.code).toBe('SESSION_REVOKED');
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: second.body.refreshToken } })).status).toBe(401);
  });

  it('accepts a just-rotated token again for a few seconds with the same new pair (a lost response), and revokes the family after that', async () => {
    const first = await signup();
    const second = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(second.status).toBe(200);
    // The response was lost: the client sends the old token again.
    const retried = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(retried.status).toBe(200);
    expect(retried.body.refreshToken).toBe(second.body.refreshToken);
    expect(retried.body.accessToken).toBe(second.body.accessToken);
    expect((await api('GET', '/api/auth/me', { token: retried.body.accessToken })).status).toBe(200);
    const third = await api('POST', '/api/auth/refresh', { body: { refreshToken: retried.body.refreshToken } });
    expect(third.status).toBe(200);

    // Past the grace period, the same kind of replay is a stolen token: the family is revoked.
    const later = await signup();
    const rotated = await api('POST', '/api/auth/refresh', { body: { refreshToken: later.refreshToken } });
    await app.orm.em.fork().nativeUpdate(SessionSchema, { user: later.user.id, revokedReason: 'rotated' }, { revokedAt: new Date(Date.now() - REFRESH_GRACE_MS - 1000) });
    const replay = await api('POST', '/api/auth/refresh', { body: { refreshToken: later.refreshToken } });
    expect([replay.status, replay.body.code]).toEqual([401, 'REFRESH_TOKEN_REUSED']);
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } })).body.code).toBe('REFRESH_TOKEN_REUSED');
  });

  it('clears the cookies when a refresh is refused (401), keeps them when it fails on our side (5xx)', async () => {
    const session = await signup();
    const cookie = `ds_refresh=${session.refreshToken}`;
    const em = app.orm.em.fork();
    await em.execute('alter table "session" rename to "session_away"');
    let failed;
    try {
      failed = await api('POST', '/api/auth/refresh', { headers: { cookie } });
    } finally {
      await em.execute('alter table "session_away" rename to "session"');
    }
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.headers.getSetCookie()).toEqual([]);
    const refreshed = await api('POST', '/api/auth/refresh', { headers: { cookie } });
    expect(refreshed.status).toBe(200);
    const refused = await api('POST', '/api/auth/refresh', { headers: { cookie: `ds_refresh=${'x'.repeat(43)}` } });
    expect(refused.status).toBe(401);
    expect(cookies(refused.headers).ds_refresh).toMatch(/Expires=Thu, 01 Jan 1970/);
  });

  it('refreshes from the HttpOnly cookie and refuses unknown or missing tokens', async () => {
    const first = await signup();
    const viaCookie = await api('POST', '/api/auth/refresh', { headers: { cookie: `ds_refresh=${first.refreshToken}` } });
    expect(viaCookie.status).toBe(200);
    expect(cookies(viaCookie.headers).ds_refresh).toContain(viaCookie.body.refreshToken);
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: 'x'.repeat(43) } })).body.code).toBe('REFRESH_TOKEN_INVALID');
    expect((await api('POST', '/api/auth/refresh')).body.code).toBe('REFRESH_TOKEN_INVALID');
  });

  it('refuses an expired refresh token', async () => {
    const first = await signup();
    await app.orm.em.fork().nativeUpdate(SessionSchema, { user: first.user.id }, { expiresAt: new Date(Date.now() - 1000) });
    const res = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect([res.status, res.body.code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
  });
});

describe('logout', () => {
  it('revokes the session: its access and refresh tokens stop working, and it clears the cookies', async () => {
    const session = await signup();
    const res = await api('POST', '/api/auth/logout', { token: session.accessToken, body: { refreshToken: session.refreshToken } });
    expect(res.status).toBe(204);
    expect(cookies(res.headers).ds_access).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect((await api('GET', '/api/auth/me', { token: session.accessToken })).body.code).toBe('SESSION_REVOKED');
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: session.refreshToken } })).body.code).toBe('REFRESH_TOKEN_REUSED');
    // Logging out twice, or anonymously, is harmless.
    expect((await api('POST', '/api/auth/logout')).status).toBe(204);
  });
});

describe('abuse protection', () => {
  it('limits auth attempts per IP with 429 problem+json and Retry-After', async () => {
    const limited = await startTestApp({ RATE_LIMIT_AUTH_PER_MINUTE: '3' });
    const limitedApi = client(limited.baseUrl);
    try {
      const body = { email: uniqueEmail(), password: 'wrong password!' };
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push(await limitedApi('POST', '/api/auth/login', { body }));
      expect(statuses.slice(0, 3).map((r) => r.status)).toEqual([401, 401, 401]);
      const last = statuses[3]!;
      expect([last.status, last.body.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  it('refuses cookie-authenticated changes from a foreign origin (CSRF), allows same origin', async () => {
    const session = await signup();
    const cookie = `ds_access=${session.accessToken}; ds_refresh=${session.refreshToken}`;
    const foreign = await api('POST', '/api/auth/logout', { headers: { cookie, origin: 'https://evil.example' } });
    expect([foreign.status, foreign.body.code]).toEqual([403, 'CSRF_REJECTED']);
    expect((await api('GET', '/api/auth/me', { token: session.accessToken })).status).toBe(200);
    const same = await api('POST', '/api/auth/logout', { headers: { cookie, origin: app.baseUrl } });
    expect(same.status).toBe(204);
  });
});

describe('password change', () => {
  it('needs the current password, keeps this sign-in and signs out every other one', async () => {
    const here = await signup();
    const elsewhere = await api('POST', '/api/auth/login', { body: { email: here.email, password: here.password } });
    const wrong = await api('POST', '/api/auth/password', { token: here.accessToken, body: { currentPassword: 'not it at all', newPassword: 'a brand new password' } });
    expect([wrong.status, wrong.body.code, wrong.body.issues[0].path]).toEqual([401, 'INVALID_CREDENTIALS', 'currentPassword']);
    const weak = await api('POST', '/api/auth/password', { token: here.accessToken, body: { currentPassword: here.password, newPassword: 'short' } });
    expect([weak.status, weak.body.issues[0].path]).toEqual([400, 'newPassword']);

    const changed = await api('POST', '/api/auth/password', { token: here.accessToken, body: { currentPassword: here.password, newPassword: 'a brand new password' } });
    expect(changed.status).toBe(204);
    expect((await api('GET', '/api/auth/me', { token: here.accessToken })).status).toBe(200);
    expect((await api('GET', '/api/auth/me', { token: elsewhere.body.accessToken })).body.code).toBe('SESSION_REVOKED');
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: elsewhere.body.refreshToken } })).status).toBe(401);
    expect((await api('POST', '/api/auth/login', { body: { email: here.email, password: here.password } })).status).toBe(401);
    expect((await api('POST', '/api/auth/login', { body: { email: here.email, password: 'a brand new password' } })).status).toBe(200);
  });
});

describe('backoff against password guessing', () => {
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const login = (email: string, password: string, address: string) => api('POST', '/api/auth/login', { body: { email, password }, headers: from(address) });

  it('backs off per account and client address: after five wrong passwords that address waits, the owner elsewhere still signs in and refreshes', async () => {
    const owner = await signup();
    for (let i = 0; i < 5; i++) expect((await login(owner.email, `wrong guess ${i}`, '203.0.113.10')).body.code).toBe('INVALID_CREDENTIALS');
    const blocked = await login(owner.email, owner.password, '203.0.113.10');
    expect([blocked.status, blocked.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(30);

    const elsewhere = await login(owner.email, owner.password, '198.51.100.20');
    expect(elsewhere.status).toBe(200);
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: owner.refreshToken } })).status).toBe(200);
    // Another account from the attacker's address is not affected.
    const other = await signup();
    expect((await login(other.email, other.password, '203.0.113.10')).status).toBe(200);
  });

  it('counts a parallel burst before checking any password: five are checked, the rest refused unchecked', async () => {
    const owner = await signup();
    const guesses = Array.from({ length: 12 }, (_, i) => `parallel guess ${i}`);
    const checked = () => vi.mocked(verifyPassword).mock.calls.filter(([, password]) => guesses.includes(password)).length;
    const answers = await Promise.all(guesses.map((password) => login(owner.email, password, '203.0.113.11')));
    expect(answers.map((res) => res.status).sort()).toEqual([...Array(5).fill(401), ...Array(7).fill(429)]);
    expect(checked()).toBe(5);
  });

  it('slows the account down across addresses with a short Retry-After, never a lockout: the owner gets in once it passes', async () => {
    const owner = await signup();
    // Eleven wrong passwords at once from three addresses (none past its own five): ten are
    // checked, the eleventh waits for the account's delay.
    const addresses = [...Array(5).fill('203.0.113.21'), ...Array(5).fill('203.0.113.22'), '203.0.113.23'];
    const answers = await Promise.all(addresses.map((address, i) => login(owner.email, `spread guess ${i}`, address)));
    expect(answers.map((res) => res.status).sort()).toEqual([...Array(10).fill(401), 429]);
    const slowed = answers.find((res) => res.status === 429)!;
    expect(slowed.body.code).toBe('RATE_LIMITED');
    expect(Number(slowed.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: owner.refreshToken } })).status).toBe(200);
    await expect.poll(async () => (await login(owner.email, owner.password, '198.51.100.30')).status, { timeout: 10_000, interval: 250 }).toBe(200);
  });
});
