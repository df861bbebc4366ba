import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { addToWaitlist, client, createDrop, createUser, createUsers, startTestApp, testDatabaseUrl, type Api, type TestApp } from './support/app.ts';
import { startPushService, vapidKeys, type TestPushService } from './support/push.ts';
import { startSmtpServer, type TestSmtp } from './support/smtp.ts';

/*
 * Notifications end to end with real parts: mail goes to a real SMTP server on loopback, push to
 * a push service on loopback that checks the VAPID signature and decrypts each payload (RFC 8291)
 * with keys this test made. One app at a time on this file's database: the restart test stops it
 * and starts another, which must pick up where the first one stopped.
 */
const vapid = vapidKeys();
let smtp: TestSmtp;
let pushService: TestPushService;
let app: TestApp;
let api: Api;
let env: Record<string, string>;

beforeAll(async () => {
  smtp = await startSmtpServer();
  pushService = await startPushService({ vapidPublicKey: vapid.VAPID_PUBLIC_KEY });
  env = {
    SMTP_URL: smtp.url,
    MAIL_RETRY_DELAY_SECONDS: '1',
    PUSH_ALLOW_LOOPBACK: 'true',
    NOTIFY_OPENS_SOON_LEAD_SECONDS: '4',
    NOTIFY_HOLD_EXPIRY_LEAD_SECONDS: '3',
    ...vapid,
  };
  app = await startTestApp(env, undefined, process.env.DEBUG_NOTIFY ? pino({ level: 'debug' }) : undefined);
  api = client(app.baseUrl);
});
afterAll(async () => {
  await app?.close();
  await smtp?.close();
  await pushService?.close();
});

type User = Awaited<ReturnType<typeof createUser>>;

async function verified(count: number): Promise<User[]> {
  const users = await createUsers(app, count);
  await app.orm.em.fork().execute(`update "user" set email_verified_at = now() where id = any(?::uuid[])`, [`{${users.map((u) => u.id).join(",")}}`]);
  return users;
}

async function subscribe(user: User) {
  const device = pushService.device();
  const res = await api('POST', '/api/me/push-subscriptions', { token: user.token, body: device.subscription });
  expect(res.status).toBe(201);
  return device;
}

async function notifications(dropId: string) {
  return app.orm.em.fork().execute<{ user_id: string; kind: string; channel: string; state: string; reason: string | null; detail: Record<string, unknown> | null; sent_at: Date | null }[]>(
    `select user_id, kind, channel, state, reason, detail, sent_at from "notification" where drop_id = ? order by kind, channel`,
    [dropId],
  );
}

const mailsTo = (user: User, subject: RegExp) => smtp.to(user.email).filter((m) => subject.test(m.subject ?? ''));

async function openNow(admin: User, dropId: string) {
  expect((await api('POST', `/api/admin/drops/${dropId}/window`, { token: admin.token, body: { action: 'open-now' } })).status).toBe(200);
}

describe('notifications', () => {
  it('tells the waitlist the window opened and a claimer their code, by email (with the QR code) and push, each once', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [both, emailOnly] = await verified(2);
    const unverified = await createUser(app);
    const device = await subscribe(both!);
    const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Opening Sneakers' });
    await addToWaitlist(app, drop.id, [both!.id, emailOnly!.id, unverified.id]);
    await openNow(admin!, drop.id);

    await vi.waitFor(() => expect(mailsTo(emailOnly!, /Opening Sneakers is open/)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(() => expect(mailsTo(both!, /Opening Sneakers is open/)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(() => expect(pushService.to(device)).toHaveLength(1), { timeout: 15_000 });
    const opened = pushService.to(device)[0]!;
    expect(opened).toMatchObject({ title: 'Opening Sneakers is open', url: expect.stringMatching(new RegExp(`/drops/${drop.id}$`)), tag: `${drop.id}:window-opened` });
    const mail = mailsTo(both!, /is open/)[0]!;
    expect(mail.text).toContain(`/drops/${drop.id}`);
    expect(mail.text).toContain('/account#notifications');

    const claim = await api('POST', `/api/drops/${drop.id}/claim`, { token: both!.token });
    expect(claim.status).toBe(201);
    await vi.waitFor(() => expect(mailsTo(both!, /Your code for Opening Sneakers/)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(() => expect(pushService.to(device)).toHaveLength(2), { timeout: 15_000 });
    const codeMail = mailsTo(both!, /Your code/)[0]!;
    expect(codeMail.text).toContain(claim.body.claim.code);
    // The QR code travels inside the message as an inline PNG, referenced from the HTML.
    const qr = codeMail.attachments.find((a) => a.cid === 'claim-qr');
    expect(qr?.contentType).toBe('image/png');
    expect(qr!.content.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // mailparser swaps a resolved cid: reference for the image's data: URL.
    expect(String(codeMail.html)).toMatch(/<img src="data:image\/png;base64,[^"]+" width="240" height="240" alt="QR code of your code /);
    // A lock screen shows push messages: the code stays out of them.
    const confirmed = pushService.to(device)[1]!;
    expect(confirmed.title).toBe('Your code for Opening Sneakers');
    expect(JSON.stringify(confirmed)).not.toContain(claim.body.claim.code);

    await vi.waitFor(async () => expect((await notifications(drop.id)).every((n) => n.state === 'SENT')).toBe(true));
    const rows = await notifications(drop.id);
    expect(rows.map((n) => [n.user_id === both!.id ? 'both' : n.user_id === emailOnly!.id ? 'emailOnly' : 'other', n.kind, n.channel])).toEqual([
      ['both', 'claim-confirmed', 'email'],
      ['both', 'claim-confirmed', 'push'],
      expect.arrayContaining(['window-opened', 'email']),
      expect.arrayContaining(['window-opened', 'email']),
      ['both', 'window-opened', 'push'],
    ]);
    // Nobody unverified got mail, and nothing went twice.
    expect(smtp.to(unverified.email)).toHaveLength(0);
    expect(mailsTo(both!, /./)).toHaveLength(2);
  });

  it('follows each person’s preferences per kind and channel', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [quiet, pushOnly] = await verified(2);
    const device = await subscribe(pushOnly!);
    const defaults = await api('GET', '/api/me/notifications', { token: quiet!.token });
    expect(defaults.status).toBe(200);
    expect(defaults.body).toMatchObject({ emailVerified: true, push: { publicKey: vapid.VAPID_PUBLIC_KEY, devices: 0 } });
    expect(defaults.body.preferences['window-opened']).toEqual({ email: true, push: true });

    const off = await api('PATCH', '/api/me/notifications', { token: quiet!.token, body: { preferences: { 'window-opened': { email: false }, 'claim-confirmed': { email: false } } } });
    expect(off.status).toBe(200);
    expect(off.body.preferences['window-opened']).toEqual({ email: false, push: true });
    expect((await api('PATCH', '/api/me/notifications', { token: pushOnly!.token, body: { preferences: { 'window-opened': { email: false } } } })).status).toBe(200);
    const bad = await api('PATCH', '/api/me/notifications', { token: quiet!.token, body: { preferences: { 'window-closed': { email: false } } } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');

    const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Quiet Drop' });
    await addToWaitlist(app, drop.id, [quiet!.id, pushOnly!.id]);
    await openNow(admin!, drop.id);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: quiet!.token })).status).toBe(201);
    await vi.waitFor(() => expect(pushService.to(device)).toHaveLength(1), { timeout: 15_000 });
    // The claim is planned after the opening: once its events are through, nothing is pending.
    await vi.waitFor(async () => {
      const cursor = await app.orm.em.fork().execute<{ behind: number }[]>(
        `select count(*)::int as behind from "outbox_event" where seq > (select last_seq from "notification_cursor") or seq is null`,
      );
      expect(cursor[0]!.behind).toBe(0);
    });
    const rows = await notifications(drop.id);
    expect(rows.map((n) => [n.user_id === pushOnly!.id ? 'pushOnly' : 'quiet', n.kind, n.channel])).toEqual([['pushOnly', 'window-opened', 'push']]);
    expect(smtp.to(quiet!.email)).toHaveLength(0);
    expect(smtp.to(pushOnly!.email)).toHaveLength(0);
  });

  it('accepts push subscriptions only for https push services (loopback here by a test setting), and unsubscribes', async () => {
    const [user] = await verified(1);
    const keys = pushService.device().subscription.keys;
    for (const endpoint of ['https://evil.example.com/push/1', 'https://127.0.0.2/push', 'https://fcm.googleapis.com:8443/fcm/send/x', 'http://fcm.googleapis.com/fcm/send/x']) {
      const res = await api('POST', '/api/me/push-subscriptions', { token: user!.token, body: { endpoint, keys } });
      expect(res.status, endpoint).toBe(400);
      expect(res.body.code).toBe('PUSH_ENDPOINT_REFUSED');
    }
    const malformed = await api('POST', '/api/me/push-subscriptions', { token: user!.token, body: { endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: 'short', auth: keys.auth } } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('VALIDATION_FAILED');
    const fcm = await api('POST', '/api/me/push-subscriptions', { token: user!.token, body: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', keys } });
    expect(fcm.status).toBe(201);
    expect(fcm.body.push.devices).toBe(1);
    expect((await api('POST', '/api/me/push-subscriptions', { body: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', keys } })).status).toBe(401);
    const removed = await api('DELETE', '/api/me/push-subscriptions', { token: user!.token, body: { endpoint: 'https://fcm.googleapis.com/fcm/send/abc' } });
    expect(removed.status).toBe(200);
    expect(removed.body.push.devices).toBe(0);
  });

  it('removes a subscription the push service reports gone (410) and keeps sending to the others', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [user] = await verified(1);
    const gone = await subscribe(user!);
    const live = await subscribe(user!);
    gone.status = 410;
    const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Gone Device' });
    await addToWaitlist(app, drop.id, [user!.id]);
    await openNow(admin!, drop.id);
    await vi.waitFor(() => expect(pushService.to(live)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(async () => {
      const rows = await app.orm.em.fork().execute<{ endpoint: string }[]>(`select endpoint from "push_subscription" where user_id = ?`, [user!.id]);
      expect(rows.map((r) => r.endpoint)).toEqual([live.subscription.endpoint]);
    });
    expect(pushService.to(gone)).toHaveLength(0);
    await vi.waitFor(async () => expect((await notifications(drop.id)).find((n) => n.channel === 'push')?.state).toBe('SENT'));
  });

  it('sends "opens soon" for the window as it is when the time comes: a moved window gets it at its new instant, not the old one', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [user] = await verified(1);
    const device = await subscribe(user!);
    const start = new Date(Date.now() + 9_000);
    const created = await api('POST', '/api/admin/drops', {
      token: admin!.token,
      body: { title: 'Moving Window', totalSlots: 5, claimWindowStart: start.toISOString(), claimWindowEnd: new Date(start.getTime() + 60 * 60_000).toISOString() },
    });
    expect(created.status).toBe(201);
    const dropId = created.body.id as string;
    await addToWaitlist(app, dropId, [user!.id]);
    // Moved 8 s later before its "opens soon" (4 s ahead) was due.
    const moved = new Date(start.getTime() + 8_000);
    const patched = await api('PATCH', `/api/admin/drops/${dropId}`, { token: admin!.token, body: { claimWindowStart: moved.toISOString() } });
    expect(patched.status).toBe(200);
    await vi.waitFor(() => expect(mailsTo(user!, /Moving Window opens soon/)).toHaveLength(1), { timeout: 30_000 });
    await vi.waitFor(() => expect(pushService.to(device).filter((m) => m.tag.endsWith(':window-opens-soon'))).toHaveLength(1), { timeout: 15_000 });
    // The mail server has the message a moment before the worker records it as sent.
    const row = await vi.waitFor(async () => {
      const [sent] = (await notifications(dropId)).filter((n) => n.kind === 'window-opens-soon' && n.channel === 'email');
      expect(sent?.sent_at).toBeTruthy();
      return sent;
    });
    expect(row!.detail).toEqual({ start: moved.toISOString() });
    // Sent for the new instant: not before the moved window's lead (the old one was 8 s earlier).
    expect(new Date(row!.sent_at!).getTime()).toBeGreaterThanOrEqual(moved.getTime() - 4_000 - 500);
    expect(mailsTo(user!, /opens soon/)[0]!.text).toContain(moved.toISOString().slice(11, 16));
  });

  it('tells a reservation holder their deadline, then warns before the hold runs out', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [first, second] = await verified(2);
    const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Held Pair', allocationMode: 'PRIORITY', totalSlots: 1, holdSeconds: 6 });
    await addToWaitlist(app, drop.id, [first!.id, second!.id]);
    await openNow(admin!, drop.id);
    await vi.waitFor(() => expect(mailsTo(first!, /Your turn: Held Pair/)).toHaveLength(1), { timeout: 15_000 });
    // 6 s hold, warned 3 s before its end; then it passes on and the second gets their turn.
    await vi.waitFor(() => expect(mailsTo(first!, /Claim Held Pair now/)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(() => expect(mailsTo(second!, /Your turn: Held Pair/)).toHaveLength(1), { timeout: 20_000 });
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: second!.token })).status).toBe(201);
    await vi.waitFor(() => expect(mailsTo(second!, /Your code for Held Pair/)).toHaveLength(1), { timeout: 15_000 });
    // Claimed before its warning was due: when the warning's moment came, it planned nothing.
    await vi.waitFor(
      async () => {
        const jobs = await app.orm.em.fork().execute<{ state: string }[]>(
          `select state from pgboss.job where name = 'notify-plan' and data->>'userId' = ? union all select state from pgboss.archive where name = 'notify-plan' and data->>'userId' = ?`,
          [second!.id, second!.id],
        );
        expect(jobs.map((j) => j.state)).toEqual(['completed']);
      },
      { timeout: 20_000 },
    );
    expect((await notifications(drop.id)).filter((n) => n.user_id === second!.id && n.kind === 'reservation-expiring')).toHaveLength(0);
    expect(mailsTo(second!, /Claim Held Pair now/)).toHaveLength(0);
  });

  it('a DRAW drop tells each entrant the result: won (with the deadline) or not this time (with the published draw)', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const users = await verified(3);
    const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Lucky Draw', allocationMode: 'DRAW', totalSlots: 1, holdSeconds: 600 });
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    await openNow(admin!, drop.id);
    await vi.waitFor(() => expect(users.flatMap((u) => mailsTo(u, /Lucky Draw/))).toHaveLength(3), { timeout: 15_000 });
    const won = users.flatMap((u) => mailsTo(u, /You won the draw: Lucky Draw/));
    const lost = users.flatMap((u) => mailsTo(u, /Not this time: Lucky Draw/));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(2);
    expect(lost[0]!.text).toContain(`/drops/${drop.id}/ranking`);
    expect(won[0]!.text).toMatch(/drawn #1 .*Claim before \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    // The winner's reservation is told by the result, not a second time; nobody gets "is open" on a DRAW drop.
    expect(users.flatMap((u) => mailsTo(u, /Your turn|is open/))).toHaveLength(0);
  });

  // 100 accounts, two app starts and 200 deliveries through a slow mail server: about 45 s alone, more under load.
  it('a restart in the middle of sending neither loses nor repeats a notification', { timeout: 180_000 }, async () => {
    // A slow mail server, so the queue is still full when the app stops.
    await app.close();
    const slow = await startSmtpServer({ delayMs: 150 });
    env = { ...env, SMTP_URL: slow.url };
    app = await startTestApp(env);
    api = client(app.baseUrl);
    try {
      const [admin] = await createUsers(app, 1, 'ADMIN');
      const users = await verified(100);
      const devices = [];
      for (const user of users) devices.push(await subscribe(user));
      const drop = await createDrop(app, { startInMs: 60 * 60_000, endInMs: 2 * 60 * 60_000, title: 'Restart Storm' });
      await addToWaitlist(app, drop.id, users.map((u) => u.id));
      await openNow(admin!, drop.id);
      // Stop the app as soon as the first messages are out, while most are still queued.
      await vi.waitFor(() => expect(slow.messages.length).toBeGreaterThan(0), { timeout: 15_000 });
      await app.close();
      const db = new pg.Client({ connectionString: await testDatabaseUrl() });
      await db.connect();
      const { rows } = await db.query<{ sent: number }>(`select count(*)::int as sent from "notification" where drop_id = $1 and state = 'SENT'`, [drop.id]);
      await db.end();
      expect(rows[0]!.sent).toBeLessThan(200);
      app = await startTestApp(env);
      api = client(app.baseUrl);
      await vi.waitFor(async () => expect((await notifications(drop.id)).filter((n) => n.state === 'SENT')).toHaveLength(200), { timeout: 60_000 });
      for (const user of users) expect(slow.to(user.email).filter((m) => /Restart Storm is open/.test(m.subject ?? '')), user.email).toHaveLength(1);
      for (const device of devices) expect(pushService.to(device)).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });
});
