import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Pool } from 'undici';
import { freePort } from '../server/test/support/free-port.ts';
import { embeddedDatabaseUrl } from '../mikro-orm.config.ts';
import { startEmbeddedPostgres } from '../server/src/db/embedded-postgres.ts';
import { initOrm } from '../server/src/db/orm.ts';
import { hashPassword } from '../server/src/modules/auth/password.ts';
import { signAccessToken } from '../server/src/modules/auth/tokens.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const SECRET = 'bench-secret-that-is-long-enough-for-hs256-000000';


/** A throw-away embedded PostgreSQL 17 (or BENCH_DATABASE_URL's server) with one fresh database per scenario. */
export async function startDatabaseServer() {
  const external = process.env.BENCH_DATABASE_URL;
  let adminUrl: string;
  let stop = async () => {};
  if (external) adminUrl = external;
  else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-bench-pg-'));
    const port = await freePort();
    const embedded = await startEmbeddedPostgres({ dataDir: dir, port, persistent: false });
    adminUrl = embeddedDatabaseUrl(port, 'postgres');
    stop = async () => {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const created: string[] = [];
  return {
    async freshDatabase(): Promise<string> {
      const name = `dropspot_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`create database "${name}"`);
      await client.end();
      created.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const orm = await initOrm(url.toString(), { logger: () => {} });
      await orm.close();
      return url.toString();
    },
    async stop(): Promise<void> {
      if (external) {
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        for (const name of created) await client.query(`drop database if exists "${name}" with (force)`);
        await client.end();
      }
      await stop();
    },
  };
}

export interface BenchServer {
  baseUrl: string;
  pid: number;
  /** The server's processes: the one process, or with BENCH_WORKERS=N the primary and its workers (never the send worker). */
  pids(): number[];
  /** Resident memory of `pids()` together. */
  rssBytes(): number;
  /** With BENCH_PROFILE=storm: starts the server's CPU profile, and the next call writes it. */
  mark(): void;
  stop(): Promise<void>;
}

const childrenOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const isWorker = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('server/src/cluster-worker.cts');
  } catch {
    return false;
  }
};
const rssOf = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};

export type Engine = 'batched' | 'original' | 'ceiling';

/**
 * The app in its own process (bench/server.ts) on a free loopback port; `env` overrides the settings
 * below (e.g. METRICS_TOKEN for the metrics on/off run). BENCH_WORKERS=N (N > 1, `batched` engine
 * only) runs the real entry point instead, `server/src/main.ts` with WORKERS=N: a primary that
 * hands connections to N workers (server/src/cluster.ts), ready once it and its send worker say so.
 */
export async function startServer(databaseUrl: string, engine: Engine, env: Record<string, string> = {}): Promise<BenchServer> {
  // BENCH_WORKERS=N (1 included) runs the real entry point, `npm start`'s main.ts, with WORKERS=N.
  const asked = env.BENCH_WORKERS ?? process.env.BENCH_WORKERS;
  const workers = Number(asked ?? 1);
  if (asked !== undefined && engine !== 'batched') throw new Error(`BENCH_WORKERS runs the real server: engine ${engine} needs bench/server.ts`);
  const cluster =
    asked !== undefined
      ? // What bench/server.ts sets through createApp, here through the environment.
        { WORKERS: String(workers), PORT: '0', HOST: '127.0.0.1', CLIENT: 'off', SOCKET_EVENTS_PER_USER_PER_SECOND: '100000', SOCKET_EVENTS_PER_IP_PER_SECOND: '100000' }
      : undefined;
  // BENCH_PROFILE=1 writes a V8 CPU profile of the server per run into bench/results/profiles/;
  // BENCH_PROFILE=storm only of each storm itself (bench/server.ts profiles between two SIGUSR2).
  const profile = process.env.BENCH_PROFILE && process.env.BENCH_PROFILE !== 'storm' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench/results/profiles')}`] : [];
  const entry = path.join(ROOT, cluster ? 'server/src/main.ts' : 'bench/server.ts');
  const child: ChildProcess = spawn(process.execPath, [...profile, entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      JWT_ACCESS_SECRET: SECRET,
      ALTCHA_HMAC_KEY: SECRET,
      // Its users are written straight into the database and no drop asks for proof of work.
      REQUIRE_POW_SIGNUP: 'false',
      // Production refuses to start without a mail server; the bench signs nobody up, so none is reached.
      SMTP_URL: 'smtp://127.0.0.1:25',
      // Its users are written straight into the database, unverified: the claim path is measured without the check.
      REQUIRE_VERIFIED_EMAIL: 'false',
      RATE_LIMIT_AUTH_PER_MINUTE: '100000000',
      RATE_LIMIT_CLAIM_PER_MINUTE: '100000000',
      RATE_LIMIT_WAITLIST_PER_MINUTE: '100000000',
      RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE: '100000000',
      // Every simulated client connects from this machine.
      SOCKET_CONNECTIONS_PER_IP: '100000000',
      BENCH_ENGINE: engine,
      ...cluster,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let tail = '';
  const port = await new Promise<number>((resolve, reject) => {
    // The request log goes to this pipe, as `npm start`'s goes to its terminal: read it until the
    // READY line, then keep draining it without keeping it, or the server would block on a full pipe.
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const sending = (env.SEND_WORKER ?? process.env.SEND_WORKER ?? 'process') === 'process';
      const match = cluster
        ? sending && !out.includes('"msg":"send worker ready"')
          ? null
          : /"url":"http:\/\/localhost:(\d+)".*"msg":"DropSpot is ready"/.exec(out)
        : /READY (\d+)/.exec(out);
      if (match) {
        child.stdout!.off('data', onData);
        // Only the last few KiB are kept: what the log said before an unexpected exit.
        child.stdout!.on('data', (more: Buffer) => {
          tail = (tail + more.toString()).slice(-4096);
        });
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`\nbench server exited unexpectedly (${signal ?? code}); the end of its log:\n${tail}`);
  });
  const pids = () => (cluster && workers > 1 ? [child.pid!, ...childrenOf(child.pid!).filter(isWorker)] : [child.pid!]);
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    pids,
    mark: () => {
      // Only bench/server.ts profiles on SIGUSR2 (to the real main.ts it would be fatal).
      if (process.env.BENCH_PROFILE === 'storm' && !cluster) child.kill('SIGUSR2');
    },
    rssBytes: () => pids().reduce((sum, pid) => sum + rssOf(pid), 0),
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** U users with live sessions and signed tokens, all on the waitlist of one live drop with S slots. */
export async function seedStorm(databaseUrl: string, users: number, slots: number) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const dropId = randomUUID();
  await client.query(
    `insert into "drop" (id, title, total_slots, claim_window_start, claim_window_end, is_active, published_at)
     values ($1, 'Benchmark drop', $2, now() - interval '1 minute', now() + interval '1 hour', true, now() - interval '2 minutes')`,
    [dropId, slots],
  );
  const hash = await hashPassword('benchmark password');
  const seeded: { id: string; token: string }[] = [];
  const breakdown = JSON.stringify({ base: 1000, signupLatencyMs: 0, accountAgeDays: 0, rapidActions: 0, coefficients: { A: 7, B: 13, C: 3 }, terms: { latency: 0, accountAge: 0, rapidActions: 0 }, score: 1000 });
  for (let start = 0; start < users; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, users - start) }, () => ({ user: randomUUID(), session: randomUUID() }));
    await client.query(
      `insert into "user" (id, email, password_hash, role) select u, 'bench-' || u || '@bench.test', $2, 'USER' from unnest($1::uuid[]) u`,
      [ids.map((i) => i.user), hash],
    );
    await client.query(
      `insert into "session" (id, user_id, refresh_token_hash, family, expires_at)
       select s, u, md5(s::text) || md5(u::text), s, now() + interval '1 day' from unnest($1::uuid[], $2::uuid[]) as t(s, u)`,
      [ids.map((i) => i.session), ids.map((i) => i.user)],
    );
    await client.query(
      `insert into "waitlist" (id, user_id, drop_id, priority_score, score_breakdown, joined_at)
       select gen_random_uuid(), u, $2, 1000, $3::jsonb, now() from unnest($1::uuid[]) u`,
      [ids.map((i) => i.user), dropId, breakdown],
    );
    for (const i of ids) seeded.push({ id: i.user, token: signAccessToken(SECRET, 3600, { sub: i.user, role: 'USER', sid: i.session }) });
  }
  await client.end();
  return { dropId, users: seeded };
}

export interface AuditResult {
  ok: boolean;
  claims: number;
  expected: number;
  distinctUsers: number;
  distinctCodes: number;
  counter: number | null;
  problems: string[];
}

/** After a run: exactly min(S, U) claims, one per user, all codes distinct, the counter equal to the claims. */
export async function audit(databaseUrl: string, dropId: string, expected: number, confirmedCodes: string[], checkCounter: boolean): Promise<AuditResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ claims: number; users: number; codes: number; claimed: number }>(
    `select count(*)::int as claims, count(distinct user_id)::int as users, count(distinct code)::int as codes,
            (select claimed from "drop" where id = $1) as claimed
       from "claim" where drop_id = $1`,
    [dropId],
  );
  const stored = new Set((await client.query<{ code: string }>('select code from "claim" where drop_id = $1', [dropId])).rows.map((r) => r.code));
  await client.end();
  const row = rows[0]!;
  const problems: string[] = [];
  if (row.claims !== expected) problems.push(`claims ${row.claims} != expected ${expected}`);
  if (row.users !== row.claims) problems.push(`${row.claims - row.users} users hold two claims`);
  if (row.codes !== row.claims) problems.push(`${row.claims - row.codes} duplicate codes`);
  if (checkCounter && row.claimed !== row.claims) problems.push(`counter ${row.claimed} != claims ${row.claims}`);
  const lost = confirmedCodes.filter((code) => !stored.has(code));
  if (lost.length > 0) problems.push(`${lost.length} acknowledged claims are missing`);
  return { ok: problems.length === 0, claims: row.claims, expected, distinctUsers: row.users, distinctCodes: row.codes, counter: checkCounter ? row.claimed : null, problems };
}

/** CPU time (user + system, in clock ticks of 1/100 s) used so far by each of the given processes. */
export function cpuTicks(pids: number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process is gone
    }
  }
  return ticks;
}

/** CPU ticks used between two readings; processes that started in between count from zero. */
export function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, now] of after) total += now - (before.get(pid) ?? 0);
  return total;
}

/**
 * PostgreSQL's processes: the embedded server's (this process's children and grandchildren) when
 * there is one, so another PostgreSQL on a shared machine is not counted; else every `postgres`.
 */
export function postgresPids(): number[] {
  const all: { pid: number; ppid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'postgres') all.push({ pid: Number(entry), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch {
      // gone
    }
  }
  const postmasters = new Set(all.filter((p) => p.ppid === process.pid).map((p) => p.pid));
  const ours = all.filter((p) => postmasters.has(p.pid) || postmasters.has(p.ppid));
  return (ours.length > 0 ? ours : all).map((p) => p.pid);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `clients` loops that each take the next user and claim once over HTTP until none is left: the
 * storm the notification and webhook benches run. Returns the codes answered 201, when it started
 * and when the last one was answered (performance.now()).
 */
export async function claimStorm(pool: Pool, dropId: string, users: { token: string }[], clients: number): Promise<{ codes: string[]; started: number; lastSuccess: number }> {
  const queue = [...users];
  const codes: string[] = [];
  let lastSuccess = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) {
        const res = await pool.request({ method: 'POST', path: `/api/drops/${dropId}/claim`, headers: { authorization: `Bearer ${user.token}` } });
        const body = (await res.body.json()) as { claim?: { code: string } };
        if (res.statusCode === 201 && body.claim) {
          codes.push(body.claim.code);
          lastSuccess = performance.now();
        }
      }
    }),
  );
  return { codes, started, lastSuccess };
}

/** A process's open-file limit (soft) and how many files it has open: each socket is one. */
export function openFiles(pid: number | 'self'): { limit: number; open: number } {
  const limit = Number(/^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1] ?? Infinity);
  return { limit: Number.isNaN(limit) ? Infinity : limit, open: readdirSync(`/proc/${pid}/fd`).length };
}
