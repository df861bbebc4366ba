/**
 * Sign-ups at the hash's own speed (BENCH_SCENARIOS=signup). In one run, on one machine:
 *  (a) the raw argon2id rate of the server's parameters (its own `hashPassword`, same library, a
 *      process with the same libuv thread pool size as the server's), hashes and verifies per second;
 *  (b) end-to-end sign-ups/s through the app, without and with the ALTCHA proof of work (the load
 *      generator fetches each challenge and solves it with altcha-lib's solver and PBKDF2/SHA-256,
 *      the widget's algorithm, through node:crypto: Node's WebCrypto costs about 3× more per
 *      attempt than node:crypto or a browser's; the solve time counts);
 *  (c) logins/s of the accounts just made;
 *  (d) claims/s of a storm alone and during a wave of concurrent sign-ups.
 * Every sign-up's verification mail goes to a real SMTP server on loopback, as in production.
 *
 * Knobs: BENCH_SIGNUPS (200), BENCH_SIGNUP_CONCURRENCY (32), BENCH_POW_SIGNUPS (6), BENCH_POW_CONCURRENCY (3),
 * BENCH_SIGNUP_WAVE (200), BENCH_HASH_SECONDS (3); the storm uses BENCH_USERS / BENCH_SLOTS /
 * BENCH_CONCURRENCY like the others.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { Pool } from 'undici';
import { ARGON2_OPTIONS, THREAD_POOL_SIZE } from '../server/src/modules/auth/password.ts';
import { startSmtpServer } from '../server/test/support/smtp.ts';
import { audit, cpuTicks, percentile, postgresPids, ROOT, seedStorm, startServer, ticksBetween, type AuditResult, type BenchServer, type startDatabaseServer } from './support.ts';

const SIGNUPS = Number(process.env.BENCH_SIGNUPS ?? 200);
const SIGNUP_CONCURRENCY = Number(process.env.BENCH_SIGNUP_CONCURRENCY ?? 32);
// Each solve is tens of thousands of PBKDF2 calls in the load generator, on the server's cores: a few suffice.
const POW_SIGNUPS = Number(process.env.BENCH_POW_SIGNUPS ?? 6);
const POW_CONCURRENCY = Number(process.env.BENCH_POW_CONCURRENCY ?? 3);
const WAVE = Number(process.env.BENCH_SIGNUP_WAVE ?? 200);
const HASH_SECONDS = Number(process.env.BENCH_HASH_SECONDS ?? 3);
const PASSWORD = 'benchmark password';

const round = (n: number) => Math.round(n * 100) / 100;
const ms = (sorted: number[]) => ({ p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)) });

interface Leg {
  count: number;
  ok: number;
  seconds: number;
  perSecond: number;
  latencyMs: { p50: number; p99: number; mean: number };
  byStatus: Record<string, number>;
  /** Share of one core each process used (100 = one core). */
  cpuPercent: { server: number; postgres: number; loadGenerator: number };
  /** CPU time per successful call, each process (a clock tick is 10 ms: rough for short legs). */
  cpuMsPerCall: { server: number; postgres: number; loadGenerator: number };
}

/** `count` calls of `one`, `concurrency` at a time, timed, with each process's CPU share. */
async function leg(server: BenchServer, count: number, concurrency: number, one: (i: number) => Promise<{ status: number; ms: number }>): Promise<Leg> {
  const latencies: number[] = [];
  const byStatus: Record<string, number> = {};
  let next = 0;
  const before = { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), loadGenerator: cpuTicks([process.pid]) };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        const { status, ms: took } = await one(i);
        byStatus[status] = (byStatus[status] ?? 0) + 1;
        latencies.push(took);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = { server: cpuTicks(server.pids()), postgres: cpuTicks(postgresPids()), loadGenerator: cpuTicks([process.pid]) };
  const ok = (byStatus[201] ?? 0) + (byStatus[200] ?? 0);
  const ticks = (name: keyof typeof before) => ticksBetween(before[name], after[name]);
  return {
    count,
    ok,
    seconds: round(seconds),
    perSecond: round(ok / seconds),
    latencyMs: ms(latencies.sort((a, b) => a - b)),
    byStatus,
    cpuPercent: { server: Math.round(ticks('server') / seconds), postgres: Math.round(ticks('postgres') / seconds), loadGenerator: Math.round(ticks('loadGenerator') / seconds) },
    cpuMsPerCall: { server: round((ticks('server') * 10) / ok), postgres: round((ticks('postgres') * 10) / ok), loadGenerator: round((ticks('loadGenerator') * 10) / ok) },
  };
}

async function post(pool: Pool, route: string, body: unknown, token?: string): Promise<{ status: number; ms: number; json: Record<string, unknown> }> {
  const t0 = performance.now();
  const res = await pool.request({
    method: 'POST',
    path: route,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.body.json()) as Record<string, unknown>;
  return { status: res.statusCode, ms: performance.now() - t0, json };
}

/**
 * The library itself (@node-rs/argon2, the server's parameters) in a separate process with the
 * server's environment, so the same UV_THREADPOOL_SIZE, kept saturated with twice the pool's size
 * in flight (no gate: the raw rate). Also the CPU time each operation took.
 */
async function rawHashRate(threadPool: number): Promise<{ hashesPerSecond: number; verifiesPerSecond: number; cpuMsPerHash: number; cpuMsPerVerify: number }> {
  const probe = `
    import { hash, verify } from '@node-rs/argon2';
    const options = ${JSON.stringify(ARGON2_OPTIONS)};
    const seconds = Number(process.env.PROBE_SECONDS), inFlight = Number(process.env.PROBE_IN_FLIGHT);
    async function rate(op) {
      let done = 0;
      const cpu = process.cpuUsage(), t0 = performance.now(), end = t0 + seconds * 1000;
      await Promise.all(Array.from({ length: inFlight }, async () => { while (performance.now() < end) { await op(); done++; } }));
      const used = process.cpuUsage(cpu);
      return [done / ((performance.now() - t0) / 1000), (used.user + used.system) / 1000 / done];
    }
    const stored = await hash(${JSON.stringify(PASSWORD)}, options);
    const [hashesPerSecond, cpuMsPerHash] = await rate(() => hash(${JSON.stringify(PASSWORD)}, options));
    const [verifiesPerSecond, cpuMsPerVerify] = await rate(() => verify(stored, ${JSON.stringify(PASSWORD)}));
    console.log(JSON.stringify({ hashesPerSecond, verifiesPerSecond, cpuMsPerHash, cpuMsPerVerify }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: ROOT,
    env: { ...process.env, PROBE_SECONDS: String(HASH_SECONDS), PROBE_IN_FLIGHT: String(threadPool * 2) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`argon2 probe exited with ${code}`);
  const rates = JSON.parse(out) as { hashesPerSecond: number; verifiesPerSecond: number; cpuMsPerHash: number; cpuMsPerVerify: number };
  return { hashesPerSecond: round(rates.hashesPerSecond), verifiesPerSecond: round(rates.verifiesPerSecond), cpuMsPerHash: round(rates.cpuMsPerHash), cpuMsPerVerify: round(rates.cpuMsPerVerify) };
}

const newEmail = () => `signup-${randomUUID()}@bench.dropspot.dev`;

/** A challenge fetched and solved the browser's way; returns the `altcha` field and the solve time. */
async function solved(pool: Pool): Promise<{ altcha: string; solveMs: number }> {
  const res = await pool.request({ method: 'GET', path: '/api/altcha/challenge' });
  const challenge = (await res.body.json()) as Challenge;
  if (res.statusCode !== 200) throw new Error(`challenge: ${res.statusCode}`);
  const t0 = performance.now();
  const solution = await solveChallenge({ challenge, deriveKey });
  const solveMs = performance.now() - t0;
  if (!solution) throw new Error('challenge not solved');
  const altcha = Buffer.from(JSON.stringify({ challenge: { parameters: challenge.parameters, signature: challenge.signature }, solution })).toString('base64');
  return { altcha, solveMs };
}

interface StormRun {
  clients: number;
  attempts: number;
  successes: number;
  /** Successful claims per second until the sell-out (or the window below). */
  claimsPerSecond: number;
  seconds: number;
  /** With a wave: the wave's own figures, and whether the storm ran entirely inside it. */
  wave?: { signups: number; ok: number; seconds: number; perSecond: number; stormInsideWave: boolean; claimsMeasuredOverSeconds: number };
  audit: AuditResult;
}

/** A claim storm on freshly seeded users, optionally while `wave` sign-ups arrive all at once. */
async function storm(server: BenchServer, url: string, options: { users: number; slots: number; concurrency: number; wave: number }): Promise<StormRun> {
  const { dropId, users } = await seedStorm(url, options.users, options.slots);
  const pool = new Pool(server.baseUrl, { connections: options.concurrency, keepAliveTimeout: 30_000 });
  const wavePool = new Pool(server.baseUrl, { connections: Math.max(1, options.wave), keepAliveTimeout: 30_000 });
  let firstAnswer: () => void = () => {};
  const waveUnderWay = new Promise<void>((resolve) => (firstAnswer = resolve));
  const waveStarted = performance.now();
  let waveOk = 0;
  const wave = Promise.all(
    Array.from({ length: options.wave }, async () => {
      const res = await post(wavePool, '/api/auth/signup', { email: newEmail(), password: PASSWORD });
      if (res.status === 201) waveOk++;
      firstAnswer();
    }),
  ).then(() => performance.now());
  // The storm starts once the first sign-up of the wave is answered: by then the whole wave is queued for hashing.
  if (options.wave > 0) await waveUnderWay;
  const queue = [...users];
  const successAt: number[] = [];
  const codes: string[] = [];
  let attempts = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) {
        const res = await post(pool, `/api/drops/${dropId}/claim`, undefined, user.token);
        attempts++;
        const claim = res.json.claim as { code: string } | undefined;
        if (res.status === 201 && claim) {
          successAt.push(performance.now());
          codes.push(claim.code);
        }
      }
    }),
  );
  const waveEnded = await wave;
  await Promise.all([pool.close(), wavePool.close()]);
  const lastSuccess = successAt.at(-1) ?? performance.now();
  // During a wave, only the claims answered while it lasted count.
  const windowEnd = options.wave > 0 ? Math.min(lastSuccess, waveEnded) : lastSuccess;
  const inWindow = successAt.filter((t) => t <= windowEnd).length;
  const windowSeconds = (windowEnd - started) / 1000;
  return {
    clients: options.concurrency,
    attempts,
    successes: successAt.length,
    claimsPerSecond: Math.round(inWindow / Math.max(windowSeconds, 0.001)),
    seconds: round((lastSuccess - started) / 1000),
    ...(options.wave > 0
      ? {
          wave: {
            signups: options.wave,
            ok: waveOk,
            seconds: round((waveEnded - waveStarted) / 1000),
            perSecond: round(waveOk / ((waveEnded - waveStarted) / 1000)),
            stormInsideWave: lastSuccess <= waveEnded,
            claimsMeasuredOverSeconds: round(windowSeconds),
          },
        }
      : {}),
    audit: await audit(url, dropId, Math.min(options.users, options.slots), codes, true),
  };
}

export async function signupBench(db: Awaited<ReturnType<typeof startDatabaseServer>>, storms: { users: number; slots: number; concurrency: number }) {
  const threadPool = THREAD_POOL_SIZE;
  console.log(`sign-ups: argon2id probe (${HASH_SECONDS} s hashing, ${HASH_SECONDS} s verifying, thread pool ${threadPool})…`);
  const raw = await rawHashRate(threadPool);
  const smtp = await startSmtpServer();
  const settings = (pow: boolean) => ({ SMTP_URL: smtp.url, REQUIRE_POW_SIGNUP: String(pow), RATE_LIMIT_POW_CHALLENGE_PER_MINUTE: '100000000' });
  try {
    const url = await db.freshDatabase();
    let server = await startServer(url, 'batched', settings(false));
    let pool = new Pool(server.baseUrl, { connections: SIGNUP_CONCURRENCY, keepAliveTimeout: 30_000 });
    console.log(`sign-ups: ${SIGNUPS} without proof of work, ${SIGNUP_CONCURRENCY} at a time…`);
    const emails = Array.from({ length: SIGNUPS }, newEmail);
    const signups = await leg(server, SIGNUPS, SIGNUP_CONCURRENCY, (i) => post(pool, '/api/auth/signup', { email: emails[i], password: PASSWORD }));
    console.log(`sign-ups: ${SIGNUPS} logins…`);
    const logins = await leg(server, SIGNUPS, SIGNUP_CONCURRENCY, (i) => post(pool, '/api/auth/login', { email: emails[i], password: PASSWORD }));
    await pool.close();
    await server.stop();

    server = await startServer(url, 'batched', settings(true));
    pool = new Pool(server.baseUrl, { connections: POW_CONCURRENCY, keepAliveTimeout: 30_000 });
    console.log(`sign-ups: ${POW_SIGNUPS} with proof of work (fetch, solve, sign up), ${POW_CONCURRENCY} at a time…`);
    const solveMs: number[] = [];
    const postMs: number[] = [];
    const withPow = await leg(server, POW_SIGNUPS, POW_CONCURRENCY, async () => {
      const t0 = performance.now();
      const { altcha, solveMs: solve } = await solved(pool);
      solveMs.push(solve);
      const res = await post(pool, '/api/auth/signup', { email: newEmail(), password: PASSWORD, altcha });
      postMs.push(res.ms);
      return { status: res.status, ms: performance.now() - t0 };
    });
    await pool.close();
    await server.stop();

    const stormUrl = await db.freshDatabase();
    server = await startServer(stormUrl, 'batched', settings(false));
    console.log(`sign-ups: claim storm (${storms.users} users, ${storms.slots} slots, ${storms.concurrency} clients) alone, then during a wave of ${WAVE} sign-ups…`);
    const alone = await storm(server, stormUrl, { ...storms, wave: 0 });
    const during = await storm(server, stormUrl, { ...storms, wave: WAVE });
    await server.stop();

    const result = {
      at: new Date().toISOString(),
      loadAverage: os.loadavg().map(round),
      argon2id: { memoryKiB: 19_456, timeCost: 2, parallelism: 1, library: '@node-rs/argon2', threadPool, ...raw },
      signups: { ...signups, percentOfRawHashRate: round((signups.perSecond / raw.hashesPerSecond) * 100), percentOfHashCpu: cpuShare(raw.cpuMsPerHash, signups) },
      logins: { ...logins, percentOfRawVerifyRate: round((logins.perSecond / raw.verifiesPerSecond) * 100), percentOfHashCpu: cpuShare(raw.cpuMsPerVerify, logins) },
      withPow: {
        ...withPow,
        maxNumber: Number(process.env.ALTCHA_MAX_NUMBER ?? 100_000),
        cost: Number(process.env.ALTCHA_COST ?? 1),
        solveMs: ms(solveMs.sort((a, b) => a - b)),
        signupPostMs: ms(postMs.sort((a, b) => a - b)),
      },
      storm: { alone, during, percentDuringWave: round((during.claimsPerSecond / Math.max(1, alone.claimsPerSecond)) * 100) },
      mailsReceived: smtp.messages.length,
    };
    console.log('\nSign-ups (argon2id m=19 MiB, t=2, p=1)');
    console.table({
      'raw argon2id (hash)': { 'per s': raw.hashesPerSecond, '% of raw': 100, 'cpu ms server+pg': raw.cpuMsPerHash },
      'sign-ups, no proof of work': row(signups, raw.hashesPerSecond, raw.cpuMsPerHash),
      'sign-ups, proof of work (solve counted)': row(withPow, raw.hashesPerSecond, raw.cpuMsPerHash),
      'raw argon2id (verify)': { 'per s': raw.verifiesPerSecond, '% of raw': 100, 'cpu ms server+pg': raw.cpuMsPerVerify },
      logins: row(logins, raw.verifiesPerSecond, raw.cpuMsPerVerify),
    });
    console.log(`proof of work: solve ${result.withPow.solveMs.mean} ms per challenge on average (max number ${result.withPow.maxNumber}, cost ${result.withPow.cost}), the sign-up request itself p50 ${result.withPow.signupPostMs.p50} ms`);
    console.log(
      `claims/s: ${alone.claimsPerSecond} alone, ${during.claimsPerSecond} during a wave of ${WAVE} sign-ups (${result.storm.percentDuringWave}%; wave ${during.wave?.perSecond} sign-ups/s, storm inside the wave: ${during.wave?.stormInsideWave}); audits: ${alone.audit.ok && during.audit.ok ? 'ok' : [...alone.audit.problems, ...during.audit.problems].join('; ')}`,
    );
    const dir = path.join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'signup.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await smtp.close();
  }
}

/**
 * The hash's share of the CPU a call cost the server and PostgreSQL: what the rate would be, as a
 * share of the raw rate, on a machine with nothing else to run (other work on a shared machine
 * moves wall-clock ratios, not CPU per call).
 */
function cpuShare(hashCpuMs: number, l: Leg): number {
  return round((hashCpuMs / Math.max(0.001, l.cpuMsPerCall.server + l.cpuMsPerCall.postgres)) * 100);
}

function row(l: Leg, raw: number, hashCpuMs: number) {
  return {
    'per s': l.perSecond,
    '% of raw': round((l.perSecond / raw) * 100),
    'cpu ms server+pg': round(l.cpuMsPerCall.server + l.cpuMsPerCall.postgres),
    'hash % of that cpu': cpuShare(hashCpuMs, l),
    'p50 ms': l.latencyMs.p50,
    'p99 ms': l.latencyMs.p99,
    'cpu % server/pg/loadgen': `${l.cpuPercent.server}/${l.cpuPercent.postgres}/${l.cpuPercent.loadGenerator}`,
  };
}
