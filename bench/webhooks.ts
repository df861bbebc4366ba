/**
 * BENCH_SCENARIOS=webhooks: the claim storm over HTTP twice in one run, once with no webhook
 * endpoint and once with an endpoint subscribed to `claim.issued` (a real receiver on loopback that
 * checks the signatures), so the cost of webhooks on claims shows as a ratio; then how fast the
 * deliveries went out. Bounded: BENCH_WEBHOOK_USERS (4000) users for BENCH_WEBHOOK_SLOTS (2000)
 * slots, 200 clients, at most 120 s waiting for deliveries.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { Pool } from 'undici';
import { signAccessToken } from '../server/src/modules/auth/tokens.ts';
import { audit, claimStorm, SECRET, seedStorm, startServer, type AuditResult, type startDatabaseServer } from './support.ts';

const USERS = Number(process.env.BENCH_WEBHOOK_USERS ?? 4000);
const SLOTS = Number(process.env.BENCH_WEBHOOK_SLOTS ?? 2000);
const CLIENTS = 200;
const DELIVERY_WAIT_MS = 120_000;

interface StormRun {
  endpoint: boolean;
  claims: number;
  claimsPerSecond: number;
  sellOutSeconds: number;
  audit: AuditResult;
}

export interface WebhookBenchResult {
  users: number;
  slots: number;
  clients: number;
  /** Claims/s with an endpoint subscribed divided by claims/s with none (1 = no cost). */
  ratio: number;
  none: StormRun;
  subscribed: StormRun;
  deliveries: number;
  /** Distinct deliveries per second, from the first claim to the last delivery received. */
  deliveriesPerSecond: number;
  /** How long after the last claim the last delivery arrived. */
  lastDeliveryAfterSellOutSeconds: number | null;
  /** Requests that repeated a webhook-id already received (at-least-once). */
  duplicates: number;
  signaturesChecked: number;
  inOrder: boolean;
}

const round = (n: number) => Math.round(n * 100) / 100;

async function adminToken(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const user = randomUUID();
  const session = randomUUID();
  await client.query(`insert into "user" (id, email, password_hash, role) values ($1, $2, 'x', 'ADMIN')`, [user, `bench-admin-${user}@bench.test`]);
  await client.query(`insert into "session" (id, user_id, refresh_token_hash, family, expires_at) values ($1, $2, $3, $1, now() + interval '1 day')`, [
    session,
    user,
    randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', ''),
  ]);
  await client.end();
  return signAccessToken(SECRET, 3600, { sub: user, role: 'ADMIN', sid: session });
}

async function run(db: Awaited<ReturnType<typeof startDatabaseServer>>, withEndpoint: boolean) {
  const url = await db.freshDatabase();
  const { dropId, users } = await seedStorm(url, USERS, SLOTS);
  const server = await startServer(url, 'batched', { WEBHOOK_ALLOW_PRIVATE: 'true' });
  const seen = new Set<string>();
  const order: number[] = [];
  let duplicates = 0;
  let checked = 0;
  let lastDeliveryAt = 0;
  let verifier: Webhook | undefined;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      const body = Buffer.concat(chunks).toString('utf8');
      if (seen.has(id)) duplicates += 1;
      else {
        seen.add(id);
        order.push((JSON.parse(body) as { data: { id: number } }).data.id);
        // Every 20th signature is checked, so the load generator's CPU stays with the storm.
        if (verifier && seen.size % 20 === 1) {
          verifier.verify(body, { 'webhook-id': id, 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) });
          checked += 1;
        }
      }
      lastDeliveryAt = performance.now();
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const pool = new Pool(server.baseUrl, { connections: CLIENTS, keepAliveTimeout: 30_000 });
  try {
    if (withEndpoint) {
      const res = await pool.request({
        method: 'POST',
        path: '/api/admin/webhooks',
        headers: { authorization: `Bearer ${await adminToken(url)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, eventTypes: ['claim.issued'] }),
      });
      const created = (await res.body.json()) as { secret?: string };
      if (res.statusCode !== 201 || !created.secret) throw new Error(`registering the endpoint failed: ${res.statusCode} ${JSON.stringify(created)}`);
      verifier = new Webhook(created.secret);
    }
    const { codes, started, lastSuccess } = await claimStorm(pool, dropId, [...users].sort(() => Math.random() - 0.5), CLIENTS);
    const sellOutSeconds = (lastSuccess - started) / 1000;
    const result: StormRun = {
      endpoint: withEndpoint,
      claims: codes.length,
      claimsPerSecond: Math.round(codes.length / sellOutSeconds),
      sellOutSeconds: round(sellOutSeconds),
      audit: await audit(url, dropId, Math.min(SLOTS, USERS), codes, true),
    };
    if (withEndpoint) {
      const deadline = Date.now() + DELIVERY_WAIT_MS;
      while (seen.size < codes.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const delivered = seen.size;
    return {
      result,
      deliveries: delivered,
      deliveriesPerSecond: delivered ? Math.round(delivered / ((lastDeliveryAt - started) / 1000)) : 0,
      lastDeliveryAfterSellOutSeconds: delivered === codes.length && delivered > 0 ? round((lastDeliveryAt - lastSuccess) / 1000) : null,
      duplicates,
      checked,
      inOrder: order.every((id, i) => i === 0 || id > order[i - 1]!),
    };
  } finally {
    await pool.close();
    receiver.closeAllConnections();
    receiver.close();
    await server.stop();
  }
}

/** The storm without and with a subscribed endpoint, in one run on the same machine. */
export async function webhooksBench(db: Awaited<ReturnType<typeof startDatabaseServer>>): Promise<WebhookBenchResult> {
  const none = await run(db, false);
  const subscribed = await run(db, true);
  if (subscribed.deliveries < subscribed.result.claims) subscribed.result.audit.problems.push(`${subscribed.result.claims - subscribed.deliveries} claims were not delivered within ${DELIVERY_WAIT_MS / 1000} s`);
  if (!subscribed.inOrder) subscribed.result.audit.problems.push('deliveries arrived out of event order');
  if (subscribed.checked === 0) subscribed.result.audit.problems.push('no signature was checked');
  subscribed.result.audit.ok = subscribed.result.audit.problems.length === 0;
  return {
    users: USERS,
    slots: SLOTS,
    clients: CLIENTS,
    ratio: round(subscribed.result.claimsPerSecond / Math.max(1, none.result.claimsPerSecond)),
    none: none.result,
    subscribed: subscribed.result,
    deliveries: subscribed.deliveries,
    deliveriesPerSecond: subscribed.deliveriesPerSecond,
    lastDeliveryAfterSellOutSeconds: subscribed.lastDeliveryAfterSellOutSeconds,
    duplicates: subscribed.duplicates,
    signaturesChecked: subscribed.checked,
    inOrder: subscribed.inOrder,
  };
}
