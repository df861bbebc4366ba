import { afterEach, describe, expect, it } from 'vitest';
import { client, createUser, startTestApp, uniqueEmail, type TestApp } from './support/app.ts';
import { freePort } from './support/free-port.ts';
import { startSmtpServer, type TestSmtp } from './support/smtp.ts';

/*
 * The apps here share this file's database and so its mail queue: each test starts and stops its
 * own, one after another, so no other app's worker takes its jobs.
 */
const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.close();
});

async function started<T extends TestApp | TestSmtp>(item: Promise<T>): Promise<T> {
  const value = await item;
  running.push(value);
  return value;
}

async function signup(app: TestApp, email = uniqueEmail()) {
  const res = await client(app.baseUrl)('POST', '/api/auth/signup', { body: { email, password: 'a good long password' } });
  expect(res.status).toBe(201);
  return { email, id: res.body.user.id as string };
}

/** The queue's record of the user's verification mail (pg-boss, its own schema). */
async function jobState(app: TestApp, email: string): Promise<string | undefined> {
  const rows = await app.orm.em.fork().execute<{ state: string }[]>(`select state from pgboss.job where name = 'mail' and data->'mail'->>'to' = ?`, [email]);
  return rows[0]?.state;
}

describe('development mailbox', () => {
  it('without SMTP_URL keeps each message in the database, listed for admins only', async () => {
    const app = await started(startTestApp());
    const api = client(app.baseUrl);
    const { email } = await signup(app);
    const admin = await createUser(app, 'ADMIN');
    const user = await createUser(app);
    await expect
      .poll(async () => (await api('GET', '/api/admin/mailbox', { token: admin.token })).body.messages.filter((m: { to: string }) => m.to === email), { timeout: 20_000 })
      .toHaveLength(1);
    const [message] = (await api('GET', '/api/admin/mailbox', { token: admin.token })).body.messages.filter((m: { to: string }) => m.to === email);
    expect(message).toMatchObject({ subject: 'DropSpot: confirm your email address' });
    const token = /verify-email\?token=([\w-]+)/.exec(message.text)![1];
    expect((await api('POST', '/api/auth/verify-email', { body: { token } })).status).toBe(200);
    expect((await api('GET', '/api/admin/mailbox', { token: user.token })).status).toBe(403);
  });

  it('with SMTP_URL has no mailbox (404) and keeps no message text', async () => {
    const smtp = await started(startSmtpServer());
    const app = await started(startTestApp({ SMTP_URL: smtp.url }));
    const { email } = await signup(app);
    await expect.poll(() => smtp.to(email).length, { timeout: 20_000 }).toBe(1);
    const admin = await createUser(app, 'ADMIN');
    const res = await client(app.baseUrl)('GET', '/api/admin/mailbox', { token: admin.token });
    expect([res.status, res.body.code]).toEqual([404, 'NOT_FOUND']);
    // The delivery is recorded just after the SMTP server accepted it.
    await expect
      .poll(() => app.orm.em.fork().execute(`select text, html, transport from "mail_message" where recipient = ?`, [email]), { timeout: 20_000 })
      .toEqual([{ text: null, html: null, transport: 'smtp' }]);
  });
});

describe('durable delivery', () => {
  it('retries a message the SMTP server refuses at first and delivers it exactly once', async () => {
    const smtp = await started(startSmtpServer({ refuseFirst: 1 }));
    const app = await started(startTestApp({ SMTP_URL: smtp.url, MAIL_RETRY_DELAY_SECONDS: '1' }));
    const { email } = await signup(app);
    await expect.poll(() => jobState(app, email), { timeout: 30_000 }).toBe('completed');
    expect(smtp.refused).toBe(1);
    expect(smtp.to(email)).toHaveLength(1);
  });

  it('delivers once a message enqueued before a restart, from the next process', async () => {
    // Nothing listens on this port yet: the first process's attempt fails and is left for a retry.
    const port = await freePort();
    const first = await startTestApp({ SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_RETRY_DELAY_SECONDS: '1' });
    const { email } = await signup(first);
    await expect.poll(() => jobState(first, email), { timeout: 30_000 }).toBe('retry');
    await first.close();

    const smtp = await started(startSmtpServer({ port }));
    const second = await started(startTestApp({ SMTP_URL: smtp.url, MAIL_RETRY_DELAY_SECONDS: '1' }));
    await expect.poll(() => jobState(second, email), { timeout: 30_000 }).toBe('completed');
    expect(smtp.to(email)).toHaveLength(1);
  });
});

describe('the sign-up and its verification mail', () => {
  const count = async (app: TestApp, query: string, values: unknown[]) => (await app.orm.em.fork().execute<{ n: number }[]>(query, values))[0]!.n;

  it('commit together: a sign-up whose mail job cannot be written leaves no account, session or link (500), and the address stays free', async () => {
    const app = await started(startTestApp());
    const api = client(app.baseUrl);
    const email = uniqueEmail('unmailed');
    // The queue refuses this address's job: a real failure, inside the statement that writes the account.
    await app.orm.em.fork().execute(
      `create function refuse_test_mail() returns trigger language plpgsql as $$
       begin if new.data->'mail'->>'to' = '${email}' then raise exception 'the mail queue refused the job'; end if; return new; end $$`,
    );
    await app.orm.em.fork().execute(`create trigger refuse_test_mail before insert on pgboss.job for each row execute function refuse_test_mail()`);
    try {
      expect((await api('POST', '/api/auth/signup', { body: { email, password: 'a good long password' } })).status).toBe(500);
    } finally {
      await app.orm.em.fork().execute(`drop trigger refuse_test_mail on pgboss.job`);
      await app.orm.em.fork().execute(`drop function refuse_test_mail()`);
    }
    expect(await count(app, `select count(*)::int as n from "user" where email = ?`, [email])).toBe(0);
    expect(await count(app, `select count(*)::int as n from "email_token" where email = ?`, [email])).toBe(0);
    expect(await jobState(app, email)).toBeUndefined();
    // Nothing half-made blocks the address: the next attempt makes the account, and queues its mail with it.
    const { id } = await signup(app, email);
    expect(await count(app, `select count(*)::int as n from "session" where user_id = ?`, [id])).toBe(1);
    expect(await jobState(app, email)).toBeDefined();
  });

  it('a sign-up refused for a taken address queues no mail (its job was written in the statement that failed)', async () => {
    const app = await started(startTestApp({ SEND_WORKER: 'off' }));
    const { email } = await signup(app);
    expect(await count(app, `select count(*)::int as n from pgboss.job where name = 'mail' and data->'mail'->>'to' = ?`, [email])).toBe(1);
    const again = await client(app.baseUrl)('POST', '/api/auth/signup', { body: { email, password: 'another long password' } });
    expect([again.status, again.body.code]).toEqual([409, 'EMAIL_TAKEN']);
    expect(await count(app, `select count(*)::int as n from pgboss.job where name = 'mail' and data->'mail'->>'to' = ?`, [email])).toBe(1);
  });

  it('takes a backlog in batches: mails queued while no worker ran leave in one fetch, not one per poll', async () => {
    const enqueuer = await startTestApp({ SEND_WORKER: 'off' });
    const emails: string[] = [];
    try {
      for (let i = 0; i < 5; i++) emails.push((await signup(enqueuer, uniqueEmail('backlog'))).email);
    } finally {
      await enqueuer.close();
    }
    const smtp = await started(startSmtpServer());
    const app = await started(startTestApp({ SMTP_URL: smtp.url }));
    await expect.poll(() => emails.filter((email) => smtp.to(email).length === 1).length, { timeout: 30_000 }).toBe(5);
    // One fetch starts its jobs at one instant (the statement's now()).
    const fetches = await count(app, `select count(distinct started_on)::int as n from pgboss.job where name = 'mail' and data->'mail'->>'to' like 'backlog-%'`, []);
    expect(fetches).toBe(1);
  });
});
