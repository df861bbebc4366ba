/**
 * Notifications under a claim storm (BENCH_SCENARIOS=notifications): the same storm twice, with
 * notifications off and on, every claimer verified and subscribed to Web Push, so "on" means one
 * email (to a loopback SMTP server) and one push (to a loopback push endpoint) per claim. Reports
 * the claims per second of both runs and how many notifications per second the queue delivered.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { Pool } from 'undici';
import { audit, claimStorm, seedStorm, startServer, type AuditResult, type startDatabaseServer } from './support.ts';

export interface NotificationRun {
  notifications: 'off' | 'on';
  claims: number;
  claimsPerSecond: number;
  audit: AuditResult;
}

export interface NotificationBenchResult {
  users: number;
  slots: number;
  concurrency: number;
  runs: NotificationRun[];
  /** Claims per second with notifications on, divided by off. */
  claimRateRatio: number;
  /** Notifications (email + push) delivered, and per second from the first planned to the last sent. */
  delivered: number;
  notificationsPerSecond: number;
  emailsReceived: number;
  pushesReceived: number;
}

const round = (n: number) => Math.round(n * 100) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sinks on loopback: an SMTP server and a push endpoint that accept and count. */
async function sinks() {
  let emails = 0;
  let pushes = 0;
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('end', () => {
        emails++;
        callback();
      });
      stream.resume();
    },
  });
  smtp.listen(0, '127.0.0.1');
  await once(smtp.server, 'listening');
  const push = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      pushes++;
      res.writeHead(201).end();
    });
  });
  push.listen(0, '127.0.0.1');
  await once(push, 'listening');
  return {
    smtpUrl: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
    pushUrl: `http://127.0.0.1:${(push.address() as AddressInfo).port}`,
    counts: () => ({ emails, pushes }),
    close: async () => {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await new Promise<void>((resolve) => push.close(() => resolve()));
    },
  };
}

export async function notificationsBench(
  db: Awaited<ReturnType<typeof startDatabaseServer>>,
  options: { users: number; slots: number; concurrency: number; progress: (label: string) => void },
): Promise<NotificationBenchResult> {
  const { users: USERS, slots: SLOTS, concurrency: CONCURRENCY } = options;
  const sink = await sinks();
  const device = createECDH('prime256v1');
  device.generateKeys();
  const auth = randomBytes(16).toString('base64url');
  const vapid = createECDH('prime256v1');
  vapid.generateKeys();
  const runs: NotificationRun[] = [];
  let delivered = 0;
  let notificationsPerSecond = 0;
  try {
    for (const mode of ['off', 'on'] as const) {
      options.progress(`notifications ${mode}: storm of ${USERS} users for ${SLOTS} slots`);
      const url = await db.freshDatabase();
      const { dropId, users } = await seedStorm(url, USERS, SLOTS);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      // Everyone confirmed and subscribed on one device each: every claim means an email and a push.
      await client.query(`update "user" set email_verified_at = now()`);
      await client.query(
        `insert into "push_subscription" (id, user_id, endpoint, p256dh, auth, created_at)
         select gen_random_uuid(), id, $1 || '/push/' || id, $2, $3, now() from "user"`,
        [sink.pushUrl, device.getPublicKey('base64url'), auth],
      );
      const server = await startServer(url, 'batched', {
        // The loopback push endpoint is allowed only outside production.
        NODE_ENV: 'test',
        SMTP_URL: sink.smtpUrl,
        VAPID_PUBLIC_KEY: vapid.getPublicKey('base64url'),
        VAPID_PRIVATE_KEY: Buffer.concat([Buffer.alloc(32 - vapid.getPrivateKey().length), vapid.getPrivateKey()]).toString('base64url'),
        PUSH_ALLOW_LOOPBACK: 'true',
        NOTIFICATIONS_ENABLED: mode === 'on' ? 'true' : 'false',
      });
      const pool = new Pool(server.baseUrl, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
      const { codes, started, lastSuccess } = await claimStorm(pool, dropId, users, CONCURRENCY);
      await pool.close();
      const claimsPerSecond = Math.round(codes.length / ((lastSuccess - started) / 1000));
      if (mode === 'on') {
        options.progress(`notifications on: delivering ${codes.length * 2}`);
        const deadline = Date.now() + 120_000;
        let sent = 0;
        while (Date.now() < deadline) {
          const { rows } = await client.query<{ sent: number }>(`select count(*)::int as sent from "notification" where state = 'SENT'`);
          sent = rows[0]!.sent;
          if (sent >= codes.length * 2) break;
          await sleep(250);
        }
        const { rows } = await client.query<{ seconds: number }>(`select extract(epoch from max(sent_at) - min(created_at))::float8 as seconds from "notification" where state = 'SENT'`);
        delivered = sent;
        notificationsPerSecond = Math.round(sent / Math.max(0.001, rows[0]!.seconds));
      }
      await client.end();
      await server.stop();
      runs.push({ notifications: mode, claims: codes.length, claimsPerSecond, audit: await audit(url, dropId, Math.min(SLOTS, USERS), codes, true) });
    }
  } finally {
    await sink.close();
  }
  const [off, on] = runs;
  const counts = sink.counts();
  return {
    users: USERS,
    slots: SLOTS,
    concurrency: CONCURRENCY,
    runs,
    claimRateRatio: round((on?.claimsPerSecond ?? 0) / Math.max(1, off?.claimsPerSecond ?? 1)),
    delivered,
    notificationsPerSecond,
    emailsReceived: counts.emails,
    pushesReceived: counts.pushes,
  };
}
