import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { UserSchema } from '../src/modules/users/user.entity.ts';
import { TEST_SECRET, client, startTestApp, testDatabaseUrl, uniqueEmail } from './support/app.ts';
import { freePort } from './support/global-setup.ts';
import { killLeftovers, startServer, stopServer, tail, track } from './support/spawned-server.ts';
import { linkIn, startSmtpServer } from './support/smtp.ts';

/**
 * `npm start` as a user runs it: the real entry point, its own embedded PostgreSQL in a fresh
 * data folder, migrations, demo data, then a clean stop on SIGTERM and a restart that keeps the data.
 */
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-start-'));
// mkdtemp makes a private folder; PostgreSQL (run as "postgres" when we are root) must enter it.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

afterEach(killLeftovers);
/** `npm start` on this file's fresh data folder (its own embedded PostgreSQL unless DATABASE_URL is given). */
const start = (env: Record<string, string>) => startServer({ DATA_DIR: dataDir, ...env });
const stop = stopServer;

/**
 * Signs up an account and verifies its address through the link mailed to it, as its owner
 * would; returns its tokens.
 */
async function signupVerified(email: string, password: string): Promise<{ accessToken: string; refreshToken: string }> {
  const smtp = await startSmtpServer();
  const app = await startTestApp({ SMTP_URL: smtp.url, MAIL_FROM: 'DropSpot <drops@dropspot.test>', MAIL_RETRY_DELAY_SECONDS: '1' });
  try {
    const api = client(app.baseUrl);
    const signup = await api('POST', '/api/auth/signup', { body: { email, password } });
    expect(signup.status).toBe(201);
    await expect.poll(() => smtp.to(email).length, { timeout: 20_000 }).toBe(1);
    const token = linkIn(smtp.to(email)[0]!).searchParams.get('token');
    const verified = await api('POST', '/api/auth/verify-email', { body: { token } });
    expect(verified.body.user.emailVerified).toBe(true);
    return { accessToken: signup.body.accessToken, refreshToken: signup.body.refreshToken };
  } finally {
    await app.close();
    await smtp.close();
  }
}

/** The CLI as an operator runs it, against this file's test database. */
async function adminCreate(args: string[]): Promise<{ code: number | null; output: string }> {
  const databaseUrl = await testDatabaseUrl();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/admin-create.ts'), ...args], {
      cwd: ROOT_DIR,
      env: { ...process.env, DATABASE_URL: databaseUrl, JWT_ACCESS_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

// Each of these runs the CLI or the server several times as separate processes: minutes on a busy machine.
describe('npm run admin:create', () => {
  it('creates an admin who can then use the admin API', async () => {
    const created = await adminCreate(['--email', 'Boss@Example.test', '--password', 'a-long-admin-password']);
    expect(created.code).toBe(0);
    expect(created.output).toMatch(/Created admin boss@example\.test/);
    const again = await adminCreate(['--email', 'boss@example.test', '--password', 'a-long-admin-password']);
    expect([again.code, again.output]).toEqual([0, expect.stringMatching(/already an admin with this password: nothing changed/)]);
    const usage = await adminCreate(['--email', 'not-an-email']);
    expect(usage.code).toBe(2);

    const app = await startTestApp();
    try {
      const api = client(app.baseUrl);
      const login = await api('POST', '/api/auth/login', { body: { email: 'boss@example.test', password: 'a-long-admin-password' } });
      expect(login.body.user.role).toBe('ADMIN');
      expect((await api('GET', '/api/admin/drops', { token: login.body.accessToken })).status).toBe(200);
    } finally {
      await app.close();
    }
  }, 300_000);

  it('refuses to promote an existing account whose address is not verified without --force; promoting or resetting a password signs every session out, and it says which it did', async () => {
    const app = await startTestApp();
    try {
      const api = client(app.baseUrl);
      const email = uniqueEmail('squatter');
      const squatter = await api('POST', '/api/auth/signup', { body: { email, password: 'the squatter password' } });
      expect(squatter.status).toBe(201);

      const refused = await adminCreate(['--email', email, '--password', 'the operator password']);
      expect(refused.code).toBe(1);
      expect(refused.output).toMatch(/Refused: .* is an existing account that is not an admin and its address is not verified; nothing changed.*--force/);
      expect((await app.orm.em.fork().findOneOrFail(UserSchema, { email })).role).toBe('USER');

      const promoted = await adminCreate(['--email', email, '--password', 'the operator password', '--force']);
      expect(promoted.code).toBe(0);
      expect(promoted.output).toMatch(/Promoted .* to admin although its address is not verified \(forced\): password set, 1 sign-in signed out/);
      expect((await app.orm.em.fork().findOneOrFail(UserSchema, { email })).role).toBe('ADMIN');
      // The squatter's session is gone (another process revoked it: seen once the 1 s cache expires).
      await expect.poll(async () => (await api('GET', '/api/auth/me', { token: squatter.body.accessToken })).body.code, { timeout: 5000 }).toBe('SESSION_REVOKED');
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: squatter.body.refreshToken } })).status).toBe(401);
      expect((await api('POST', '/api/auth/login', { body: { email, password: 'the squatter password' } })).status).toBe(401);

      const operator = await api('POST', '/api/auth/login', { body: { email, password: 'the operator password' } });
      expect(operator.body.user.role).toBe('ADMIN');
      const unchanged = await adminCreate(['--email', email, '--password', 'the operator password']);
      expect([unchanged.code, unchanged.output]).toEqual([0, expect.stringMatching(/already an admin with this password: nothing changed/)]);
      const stillIn = await api('POST', '/api/auth/refresh', { body: { refreshToken: operator.body.refreshToken } });
      expect(stillIn.status).toBe(200);

      const reset = await adminCreate(['--email', email, '--password', 'a newer operator password']);
      expect(reset.code).toBe(0);
      expect(reset.output).toMatch(/Reset the password of admin .*: 1 sign-in signed out/);
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: stillIn.body.refreshToken } })).status).toBe(401);
    } finally {
      await app.close();
    }
  }, 300_000);

  it('promotes an existing account whose address is verified without --force, signs its sessions out, and says it was verified', async () => {
    const email = uniqueEmail('verified');
    const owner = await signupVerified(email, 'the owner password');

    const promoted = await adminCreate(['--email', email, '--password', 'the operator password']);
    expect(promoted.code).toBe(0);
    expect(promoted.output).toMatch(/Promoted .* to admin \(its address is verified\): password set, 1 sign-in signed out/);
    const app = await startTestApp();
    try {
      const api = client(app.baseUrl);
      expect((await app.orm.em.fork().findOneOrFail(UserSchema, { email })).role).toBe('ADMIN');
      expect((await api('GET', '/api/auth/me', { token: owner.accessToken })).body.code).toBe('SESSION_REVOKED');
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: owner.refreshToken } })).status).toBe(401);
      expect((await api('POST', '/api/auth/login', { body: { email, password: 'the operator password' } })).body.user.role).toBe('ADMIN');
    } finally {
      await app.close();
    }
  }, 300_000);
});

describe('ADMIN_EMAIL at start', () => {
  it('refuses to promote an existing non-admin account whose address is not verified unless ADMIN_PROMOTE_EXISTING=true, says so in the log, and signs a promoted account out', async () => {
    const app = await startTestApp();
    try {
      const api = client(app.baseUrl);
      const email = uniqueEmail('early');
      const early = await api('POST', '/api/auth/signup', { body: { email, password: 'registered before the admin' } });
      const port = await freePort();
      const env = { DATABASE_URL: await testDatabaseUrl(), JWT_ACCESS_SECRET: TEST_SECRET, SEED_DEMO: 'false', PORT: String(port), ADMIN_EMAIL: email, ADMIN_PASSWORD: 'the operator password' };

      const refusing = await start(env);
      try {
        expect(refusing.output()).toMatch(/"outcome":"refused".*address is not verified.*ADMIN_PROMOTE_EXISTING=true/);
      } finally {
        expect(await stop(refusing.child), tail(refusing.output())).toBe('exit 0');
      }
      expect((await app.orm.em.fork().findOneOrFail(UserSchema, { email })).role).toBe('USER');
      const refreshed = await api('POST', '/api/auth/refresh', { body: { refreshToken: early.body.refreshToken } });
      expect(refreshed.status).toBe(200);

      const promoting = await start({ ...env, ADMIN_PROMOTE_EXISTING: 'true' });
      try {
        expect(promoting.output()).toMatch(/"outcome":"promoted".*"sessionsEnded":1/);
      } finally {
        expect(await stop(promoting.child), tail(promoting.output())).toBe('exit 0');
      }
      expect((await app.orm.em.fork().findOneOrFail(UserSchema, { email })).role).toBe('ADMIN');
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } })).status).toBe(401);
    } finally {
      await app.close();
    }
  }, 300_000);

  it('promotes an existing account whose address is verified without ADMIN_PROMOTE_EXISTING, and signs it out', async () => {
    const email = uniqueEmail('verified-start');
    const owner = await signupVerified(email, 'the owner password');
    const port = await freePort();
    const env = { DATABASE_URL: await testDatabaseUrl(), JWT_ACCESS_SECRET: TEST_SECRET, SEED_DEMO: 'false', PORT: String(port), ADMIN_EMAIL: email, ADMIN_PASSWORD: 'the operator password' };
    const promoting = await start(env);
    try {
      expect(promoting.output()).toMatch(/"outcome":"promoted","emailVerified":true,"sessionsEnded":1.*its address is verified/);
      const api = client(`http://127.0.0.1:${port}`);
      expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: owner.refreshToken } })).status).toBe(401);
      expect((await api('POST', '/api/auth/login', { body: { email, password: 'the operator password' } })).body.user.role).toBe('ADMIN');
    } finally {
      expect(await stop(promoting.child), tail(promoting.output())).toBe('exit 0');
    }
  }, 300_000);
});

describe('npm start on the embedded database', () => {
  it('serves demo data, stops cleanly on SIGTERM, and keeps its data across a restart', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    // An empty DATABASE_URL means "not set", as it does in a shell.
    const env = { PORT: String(port), EMBEDDED_PG_PORT: String(pgPort) };
    const first = await start(env);
    const api = client(`http://127.0.0.1:${port}`);
    try {
      expect(first.output()).toContain('embedded PostgreSQL 17 started');
      expect(first.output()).toMatch(/Demo admin:\s+admin@dropspot\.local/);
      const drops = await api('GET', '/api/drops?pageSize=100');
      expect(drops.status).toBe(200);
      expect(drops.body.items.map((d: { window: { state: string } }) => d.window.state).sort()).toEqual(['ended', 'live', 'upcoming']);
      const login = await api('POST', '/api/auth/login', { body: { email: 'user@dropspot.local', password: 'dropspot-user' } });
      expect(login.status).toBe(200);
      const adminLogin = await api('POST', '/api/auth/login', { body: { email: 'admin@dropspot.local', password: 'dropspot-admin' } });
      expect(adminLogin.body.user.role).toBe('ADMIN');
      expect((await api('GET', '/readyz')).status).toBe(200);
    } finally {
      expect(await stop(first.child), tail(first.output())).toBe('exit 0');
    }
    expect(first.output()).toContain('"msg":"stopped"');

    const second = await start(env);
    try {
      const drops = await api('GET', '/api/drops?pageSize=100');
      expect(drops.body.total).toBe(3);
      expect(second.output()).not.toContain('demo drops created');
    } finally {
      expect(await stop(second.child), tail(second.output())).toBe('exit 0');
    }
  });
});

describe('npm start when the embedded PostgreSQL dies', () => {
  it('restarts it by itself with backoff; meanwhile /readyz says not ready and claims answer 503, never 500', { timeout: 120_000 }, async () => {
    const ownDir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-crash-'));
    chmodSync(ownDir, 0o755);
    const [port, pgPort] = [await freePort(), await freePort()];
    const app = await start({ PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), DATA_DIR: ownDir });
    const api = client(`http://127.0.0.1:${port}`);
    const postmaster = () => Number(readFileSync(path.join(ownDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    try {
      const login = await api('POST', '/api/auth/login', { body: { email: 'user@dropspot.local', password: 'dropspot-user' } });
      const drops = await api('GET', '/api/drops?pageSize=100');
      const live = drops.body.items.find((d: { window: { state: string } }) => d.window.state === 'live');
      expect((await api('POST', `/api/drops/${live.id}/join`, { token: login.body.accessToken })).status).toBeLessThan(300);
      const claim = () => api('POST', `/api/drops/${live.id}/claim`, { token: login.body.accessToken });

      const killed = postmaster();
      process.kill(killed, 'SIGKILL');
      const claims: number[] = [];
      const readiness: number[] = [];
      await vi.waitFor(
        async () => {
          const [ready, claimed] = await Promise.all([api('GET', '/readyz'), claim()]);
          readiness.push(ready.status);
          claims.push(claimed.status);
          expect(readiness).toContain(503);
          expect(ready.status).toBe(200);
          expect(claimed.status).toBeLessThan(300);
        },
        { timeout: 90_000, interval: 50 },
      );
      expect(postmaster()).not.toBe(killed);
      // Every claim during the recovery was "unavailable, retry" until it succeeded; none was a 500.
      expect(claims).toContain(503);
      expect(claims.filter((status) => status !== 503 && status >= 300)).toEqual([]);
      expect(app.output()).toContain('embedded PostgreSQL exited unexpectedly');
      expect(app.output()).toContain('embedded PostgreSQL restarted');
    } finally {
      expect(await stop(app.child), tail(app.output())).toBe('exit 0');
      rmSync(ownDir, { recursive: true, force: true });
    }
  });
});

describe('the send worker npm start forks', () => {
  it('sends mail from its own process at a lower CPU priority, is replaced when it dies, and stops with the server', { timeout: 180_000 }, async () => {
    const smtp = await startSmtpServer();
    const port = await freePort();
    const app = await start({
      DATABASE_URL: await testDatabaseUrl(),
      JWT_ACCESS_SECRET: TEST_SECRET,
      SEED_DEMO: 'false',
      PORT: String(port),
      SMTP_URL: smtp.url,
      MAIL_FROM: 'DropSpot <drops@dropspot.test>',
      MAIL_RETRY_DELAY_SECONDS: '1',
    });
    const api = client(`http://127.0.0.1:${port}`);
    const workers = () => [...app.output().matchAll(/"pid":(\d+)[^\n]*"msg":"send worker ready"/g)].map((m) => Number(m[1]));
    const sentBy = (email: string) => new RegExp(`"process":"send-worker"[^\\n]*"to":"${email.replace(/[.+]/g, '\\$&')}"[^\\n]*"msg":"mail sent"`);
    let last: number | undefined;
    try {
      await vi.waitFor(() => expect(workers()).toHaveLength(1), { timeout: 60_000 });
      const [first] = workers();
      expect(first).not.toBe(app.child.pid);
      expect(os.getPriority(first)).toBe(10);
      expect(os.getPriority(app.child.pid)).toBe(0);

      const email = uniqueEmail('worker');
      expect((await api('POST', '/api/auth/signup', { body: { email, password: 'a long enough password' } })).status).toBe(201);
      await expect.poll(() => smtp.to(email).length, { timeout: 30_000 }).toBe(1);
      // The worker logs the delivery once SMTP accepted it: a moment after the server has the message.
      await vi.waitFor(() => expect(app.output()).toMatch(sentBy(email)), { timeout: 10_000 });

      // A worker that dies is replaced, and mail keeps going out.
      process.kill(first!, 'SIGKILL');
      await vi.waitFor(() => expect(workers()).toHaveLength(2), { timeout: 60_000 });
      expect(app.output()).toContain('the send worker ended unexpectedly; starting another');
      last = workers()[1];
      const after = uniqueEmail('worker-after');
      expect((await api('POST', '/api/auth/signup', { body: { email: after, password: 'a long enough password' } })).status).toBe(201);
      await expect.poll(() => smtp.to(after).length, { timeout: 30_000 }).toBe(1);
      await vi.waitFor(() => expect(app.output()).toMatch(sentBy(after)), { timeout: 10_000 });
    } finally {
      expect(await stop(app.child), tail(app.output())).toBe('exit 0');
      await smtp.close();
    }
    // The worker stopped with the server: no process is left behind.
    expect(() => process.kill(last!, 0)).toThrow(/ESRCH/);
  });
});
