import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addToWaitlist, client, createDrop, startTestApp, uniqueEmail, type TestApp } from './support/app.ts';
import { linkIn, startSmtpServer, type TestSmtp } from './support/smtp.ts';
import { closeSockets, connect, connected, request } from './support/sockets.ts';

let app: TestApp;
let api: ReturnType<typeof client>;
let smtp: TestSmtp;
/** Every app of this file shares its database, so each delivers to the same SMTP server. */
const mailEnv = () => ({ SMTP_URL: smtp.url, MAIL_FROM: 'DropSpot <drops@dropspot.test>', MAIL_RETRY_DELAY_SECONDS: '1' });

beforeAll(async () => {
  smtp = await startSmtpServer();
  app = await startTestApp({ ...mailEnv(), REQUIRE_VERIFIED_EMAIL: 'true', RATE_LIMIT_MAIL_PER_MINUTE: '2' });
  api = client(app.baseUrl);
});
afterAll(async () => {
  await app.close();
  await smtp.close();
});
afterEach(() => closeSockets());

const tokenOf = (link: URL) => link.searchParams.get('token')!;

async function signup(email = uniqueEmail(), password = 'a good long password') {
  const res = await api('POST', '/api/auth/signup', { body: { email, password } });
  expect(res.status).toBe(201);
  return { email, password, token: res.body.accessToken as string, refreshToken: res.body.refreshToken as string, id: res.body.user.id as string };
}

/** The n-th message to this address, once it has arrived. */
async function mailTo(address: string, count = 1) {
  await expect.poll(() => smtp.to(address).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  return smtp.to(address)[count - 1]!;
}

describe('one person, one entry', () => {
  it('refuses aliases of one mailbox as a second account (409 EMAIL_TAKEN): case, +tag, dots at gmail, googlemail, IDN', async () => {
    const name = `jane${randomUUID().slice(0, 8)}`;
    await signup(`${name}.doe@gmail.com`);
    for (const alias of [`${name.toUpperCase()}DOE@GMAIL.COM`, `${name}doe+drops@gmail.com`, `${name}.d.o.e@googlemail.com`]) {
      const res = await api('POST', '/api/auth/signup', { body: { email: alias, password: 'a good long password' } });
      expect([res.status, res.body.code], alias).toEqual([409, 'EMAIL_TAKEN']);
    }
    // Dots count at providers that do not ignore them.
    await signup(`${name}.doe@dropspot.test`);
    await signup(`${name}doe@dropspot.test`);

    await signup(`${name}@bücher.test`);
    const ascii = await api('POST', '/api/auth/signup', { body: { email: `${name}+x@xn--bcher-kva.test`, password: 'a good long password' } });
    expect([ascii.status, ascii.body.code]).toEqual([409, 'EMAIL_TAKEN']);
  });

  it('refuses disposable addresses at signup and change of email (400 EMAIL_DISPOSABLE), unless BLOCK_DISPOSABLE_EMAIL is off', async () => {
    const refused = await api('POST', '/api/auth/signup', { body: { email: `someone-${randomUUID()}@mailinator.com`, password: 'a good long password' } });
    expect([refused.status, refused.body.code]).toEqual([400, 'EMAIL_DISPOSABLE']);
    const sub = await api('POST', '/api/auth/signup', { body: { email: `someone-${randomUUID()}@eu.yopmail.com`, password: 'a good long password' } });
    expect([sub.status, sub.body.code]).toEqual([400, 'EMAIL_DISPOSABLE']);

    const user = await signup();
    const change = await api('POST', '/api/me/email', { token: user.token, body: { currentPassword: user.password, email: `x-${randomUUID()}@mailinator.com` } });
    expect([change.status, change.body.code]).toEqual([400, 'EMAIL_DISPOSABLE']);

    const open = await startTestApp({ ...mailEnv(), BLOCK_DISPOSABLE_EMAIL: 'false' });
    try {
      const res = await client(open.baseUrl)('POST', '/api/auth/signup', { body: { email: `someone-${randomUUID()}@mailinator.com`, password: 'a good long password' } });
      expect(res.status).toBe(201);
    } finally {
      await open.close();
    }
  });
});

describe('email verification', () => {
  it('mails a short plain-text and HTML message at signup whose link verifies the address once', async () => {
    const user = await signup();
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.user.emailVerified).toBe(false);
    const mail = await mailTo(user.email);
    expect(mail.subject).toMatch(/^DropSpot: /);
    expect(mail.from?.value[0]).toMatchObject({ name: 'DropSpot', address: 'drops@dropspot.test' });
    expect(mail.text).toContain('/verify-email?token=');
    expect(mail.html).toContain('/verify-email?token=');
    // No tracking: nothing in the HTML is fetched when it is opened.
    expect(mail.html).not.toMatch(/<img|src=|<link/i);

    const link = linkIn(mail);
    const first = await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(link) } });
    expect(first.status).toBe(200);
    expect(first.body.user).toMatchObject({ id: user.id, emailVerified: true });
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.user.emailVerified).toBe(true);
    const again = await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(link) } });
    expect([again.status, again.body.code]).toEqual([400, 'LINK_INVALID']);
  });

  it('refuses an expired link (400 LINK_EXPIRED) and the address stays unverified', async () => {
    const user = await signup();
    const link = linkIn(await mailTo(user.email));
    await app.orm.em.fork().execute(`update "email_token" set expires_at = now() - interval '1 second' where user_id = ?`, [user.id]);
    const res = await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(link) } });
    expect([res.status, res.body.code]).toEqual([400, 'LINK_EXPIRED']);
    expect((await api('GET', '/api/auth/me', { token: user.token })).body.user.emailVerified).toBe(false);
  });

  it('refuses join and claim with 403 EMAIL_NOT_VERIFIED over HTTP and socket until the address is verified', async () => {
    const user = await signup();
    const drop = await createDrop(app);
    const join = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    expect([join.status, join.body.code]).toEqual([403, 'EMAIL_NOT_VERIFIED']);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    expect(await request(socket, 'drop:join', { dropId: drop.id })).toMatchObject({ ok: false, code: 'EMAIL_NOT_VERIFIED' });
    // On the waitlist by other means (an address verified once, changed since): claiming is refused too.
    await addToWaitlist(app, drop.id, [user.id]);
    const claim = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect([claim.status, claim.body.code]).toEqual([403, 'EMAIL_NOT_VERIFIED']);
    expect(await request(socket, 'drop:claim', { dropId: drop.id })).toMatchObject({ ok: false, code: 'EMAIL_NOT_VERIFIED' });
    expect(await app.orm.em.fork().execute(`select count(*)::int as n from "claim" where user_id = ?`, [user.id])).toEqual([{ n: 0 }]);

    expect((await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(linkIn(await mailTo(user.email))) } })).status).toBe(200);
    expect(await request(socket, 'drop:claim', { dropId: drop.id })).toMatchObject({ ok: true, data: { created: true } });
    const other = await createDrop(app);
    expect((await api('POST', `/api/drops/${other.id}/join`, { token: user.token })).status).toBe(201);
  });

  it('resends a fresh link on request, a few a minute per account (then 429 with Retry-After)', async () => {
    const user = await signup();
    await mailTo(user.email);
    expect((await api('POST', '/api/auth/verify-email/resend', { token: user.token })).status).toBe(202);
    expect((await api('POST', '/api/auth/verify-email/resend', { token: user.token })).status).toBe(202);
    const limited = await api('POST', '/api/auth/verify-email/resend', { token: user.token });
    expect([limited.status, limited.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Every link mailed is a working one; the newest verifies.
    const third = await mailTo(user.email, 3);
    expect((await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(linkIn(third)) } })).status).toBe(200);
  });

  it('changes the email only with the current password; the account is unverified until the new address follows its link', async () => {
    const user = await signup();
    const oldLink = linkIn(await mailTo(user.email));
    const newEmail = uniqueEmail('moved');
    const wrong = await api('POST', '/api/me/email', { token: user.token, body: { currentPassword: 'not the password', email: newEmail } });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'INVALID_CREDENTIALS']);

    const changed = await api('POST', '/api/me/email', { token: user.token, body: { currentPassword: user.password, email: newEmail } });
    expect(changed.status).toBe(200);
    expect(changed.body.user).toMatchObject({ email: newEmail, emailVerified: false });
    // The link mailed to the old address verifies nothing now.
    const stale = await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(oldLink) } });
    expect([stale.status, stale.body.code]).toEqual([400, 'LINK_INVALID']);
    const drop = await createDrop(app);
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).body.code).toBe('EMAIL_NOT_VERIFIED');

    expect((await api('POST', '/api/auth/verify-email', { body: { token: tokenOf(linkIn(await mailTo(newEmail))) } })).body.user).toMatchObject({
      email: newEmail,
      emailVerified: true,
    });
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    // The old address is free again; another account's address is not.
    await signup(user.email);
    const taken = await api('POST', '/api/me/email', { token: user.token, body: { currentPassword: user.password, email: user.email } });
    expect([taken.status, taken.body.code]).toEqual([409, 'EMAIL_TAKEN']);
  });
});

describe('password reset', () => {
  it('mails a link to the account’s own address that sets a new password once and signs out every session', async () => {
    const name = `reset${randomUUID().slice(0, 8)}`;
    const user = await signup(`${name}@gmail.com`);
    const second = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } });
    expect(second.status).toBe(200);

    // Asked with an alias, the link still goes to the address the account uses.
    const asked = await api('POST', '/api/auth/forgot-password', { body: { email: `${name}+x@googlemail.com` } });
    expect(asked.status).toBe(202);
    const mail = await mailTo(user.email, 2);
    expect(mail.subject).toBe('DropSpot: reset your password');
    const token = tokenOf(linkIn(mail));

    const weak = await api('POST', '/api/auth/reset-password', { body: { token, newPassword: 'short' } });
    expect([weak.status, weak.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await api('POST', '/api/auth/reset-password', { body: { token, newPassword: 'a brand new password' } })).status).toBe(204);

    for (const session of [user.token, second.body.accessToken]) {
      expect((await api('GET', '/api/auth/me', { token: session })).body.code).toBe('SESSION_REVOKED');
    }
    for (const refreshToken of [user.refreshToken, second.body.refreshToken]) {
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken } })).status).toBe(401);
    }
    expect((await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } })).body.code).toBe('INVALID_CREDENTIALS');
    const fresh = await api('POST', '/api/auth/login', { body: { email: user.email, password: 'a brand new password' } });
    expect(fresh.status).toBe(200);
    // The link reached the mailbox: the address counts as verified.
    expect(fresh.body.user.emailVerified).toBe(true);

    const reused = await api('POST', '/api/auth/reset-password', { body: { token, newPassword: 'yet another password' } });
    expect([reused.status, reused.body.code]).toEqual([400, 'LINK_INVALID']);
  });

  it('refuses an expired reset link (400 LINK_EXPIRED) and keeps the password', async () => {
    const user = await signup();
    await api('POST', '/api/auth/forgot-password', { body: { email: user.email } });
    const token = tokenOf(linkIn(await mailTo(user.email, 2)));
    await app.orm.em.fork().execute(`update "email_token" set expires_at = now() - interval '1 second' where user_id = ? and purpose = 'RESET_PASSWORD'`, [user.id]);
    const res = await api('POST', '/api/auth/reset-password', { body: { token, newPassword: 'a brand new password' } });
    expect([res.status, res.body.code]).toEqual([400, 'LINK_EXPIRED']);
    expect((await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password } })).status).toBe(200);
  });

  it('answers a known and an unknown address with the same status and body', async () => {
    const user = await signup();
    const known = await api('POST', '/api/auth/forgot-password', { body: { email: user.email } });
    const unknown = await api('POST', '/api/auth/forgot-password', { body: { email: uniqueEmail('nobody') } });
    expect(known.status).toBe(202);
    expect([unknown.status, unknown.body]).toEqual([known.status, known.body]);
    expect(unknown.headers.get('content-length')).toBe(known.headers.get('content-length'));
  });

  it('limits requests per address, aliases together (429 with Retry-After)', async () => {
    const name = `limit${randomUUID().slice(0, 8)}`;
    await signup(`${name}@gmail.com`);
    expect((await api('POST', '/api/auth/forgot-password', { body: { email: `${name}@gmail.com` } })).status).toBe(202);
    expect((await api('POST', '/api/auth/forgot-password', { body: { email: `${name}+a@gmail.com` } })).status).toBe(202);
    const limited = await api('POST', '/api/auth/forgot-password', { body: { email: `${name.slice(0, 3)}.${name.slice(3)}@googlemail.com` } });
    expect([limited.status, limited.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Unknown addresses are limited the same way, so a limit reveals nothing either.
    const nobody = uniqueEmail('nobody');
    await api('POST', '/api/auth/forgot-password', { body: { email: nobody } });
    await api('POST', '/api/auth/forgot-password', { body: { email: nobody } });
    expect((await api('POST', '/api/auth/forgot-password', { body: { email: nobody } })).status).toBe(429);
  });

  it('limits requests per IP (429 with Retry-After)', async () => {
    const strict = await startTestApp({ ...mailEnv(), RATE_LIMIT_AUTH_PER_MINUTE: '3' });
    try {
      const strictApi = client(strict.baseUrl);
      for (let i = 0; i < 3; i++) expect((await strictApi('POST', '/api/auth/forgot-password', { body: { email: uniqueEmail('ip') } })).status).toBe(202);
      const limited = await strictApi('POST', '/api/auth/forgot-password', { body: { email: uniqueEmail('ip') } });
      expect([limited.status, limited.body.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await strict.close();
    }
  });
});

describe('housekeeping', () => {
  it('prunes link tokens a week after they expired and keeps the others', async () => {
    const { pruneExpiredRows } = await import('../src/db/maintenance.ts');
    const user = await signup();
    await api('POST', '/api/auth/forgot-password', { body: { email: user.email } });
    await expect.poll(async () => (await app.orm.em.fork().execute(`select count(*)::int as n from "email_token" where user_id = ?`, [user.id]))[0]?.n).toBe(2);
    await app.orm.em.fork().execute(`update "email_token" set expires_at = now() - interval '8 days' where user_id = ? and purpose = 'RESET_PASSWORD'`, [user.id]);
    const deleted = await pruneExpiredRows(app.orm);
    expect(deleted.emailTokens).toBeGreaterThanOrEqual(1);
    expect(await app.orm.em.fork().execute(`select purpose from "email_token" where user_id = ?`, [user.id])).toEqual([{ purpose: 'VERIFY_EMAIL' }]);
  });
});
