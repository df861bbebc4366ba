/**
 * What Prometheus metrics cost the claim path (BENCH_SCENARIOS=metrics): the same HTTP claim storm
 * against the same engine, once with metrics off (the default) and once on (METRICS_TOKEN set,
 * scraped every second as Prometheus would), twice each in the order off, on, on, off so neither
 * side always runs on a warmer machine. Bounded: BENCH_METRICS_USERS (5000) users on the waitlist
 * of a drop with BENCH_METRICS_SLOTS (2000) slots, BENCH_METRICS_CONCURRENCY (200) clients.
 * Every run is audited like the other storms; the "on" runs must also show the claims in /metrics.
 */
import { Pool } from 'undici';
import { audit, percentile, seedStorm, startServer, type AuditResult, type startDatabaseServer } from './support.ts';

const USERS = Number(process.env.BENCH_METRICS_USERS ?? 5_000);
const SLOTS = Number(process.env.BENCH_METRICS_SLOTS ?? 2_000);
const CONCURRENCY = Number(process.env.BENCH_METRICS_CONCURRENCY ?? 200);
const TOKEN = 'bench-metrics-token';

interface Run {
  metrics: 'off' | 'on';
  attemptsPerSecond: number;
  claimsPerSecond: number;
  latencyMs: { p50: number; p99: number };
  /** On: `dropspot_claims_total{outcome="issued"}` from the last scrape, which must equal the claims. */
  scrapedIssued: number | null;
  scrapes: number;
  audit: AuditResult;
}

export interface MetricsOverhead {
  /** Claims per second with metrics on ÷ off (1.0: no cost). */
  ratio: number;
  /** p99 latency on ÷ off. */
  p99Ratio: number;
  settings: { users: number; slots: number; concurrency: number };
  runs: Run[];
}

const round = (n: number) => Math.round(n * 100) / 100;

async function scrapeIssued(pool: Pool): Promise<number> {
  const res = await pool.request({ method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await res.body.text();
  return Number(/^dropspot_claims_total\{outcome="issued"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

async function run(db: Awaited<ReturnType<typeof startDatabaseServer>>, on: boolean): Promise<Run> {
  const url = await db.freshDatabase();
  const { dropId, users } = await seedStorm(url, USERS, SLOTS);
  const server = await startServer(url, 'batched', on ? { METRICS_TOKEN: TOKEN } : {});
  const pool = new Pool(server.baseUrl, { connections: CONCURRENCY + 1, keepAliveTimeout: 30_000 });
  const queue = [...users].sort(() => Math.random() - 0.5);
  const latencies: number[] = [];
  const codes: string[] = [];
  let attempts = 0;
  let scrapes = 0;
  // Prometheus scrapes on an interval; so does this, during the whole storm.
  const scraper = on ? setInterval(() => void scrapeIssued(pool).then(() => (scrapes += 1)), 1000) : undefined;
  const started = performance.now();
  let lastSuccessAt = started;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let user = queue.pop(); user; user = queue.pop()) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: `/api/drops/${dropId}/claim`, headers: { authorization: `Bearer ${user.token}` } });
        const body = (await res.body.json()) as { claim?: { code: string } };
        latencies.push(performance.now() - t0);
        attempts += 1;
        if (res.statusCode === 201 && body.claim) {
          codes.push(body.claim.code);
          lastSuccessAt = performance.now();
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(scraper);
  const scrapedIssued = on ? await scrapeIssued(pool) : null;
  await pool.close();
  await server.stop();
  const result = await audit(url, dropId, Math.min(SLOTS, USERS), codes, true);
  if (scrapedIssued !== null && scrapedIssued !== codes.length) {
    result.ok = false;
    result.problems.push(`/metrics says ${scrapedIssued} claims issued, the storm saw ${codes.length}`);
  }
  latencies.sort((a, b) => a - b);
  return {
    metrics: on ? 'on' : 'off',
    attemptsPerSecond: Math.round(attempts / seconds),
    claimsPerSecond: Math.round(codes.length / ((lastSuccessAt - started) / 1000)),
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    scrapedIssued,
    scrapes,
    audit: result,
  };
}

/** The metrics on/off comparison; prints its ratio first, then the runs. */
export async function metricsOverhead(db: Awaited<ReturnType<typeof startDatabaseServer>>): Promise<MetricsOverhead> {
  const runs: Run[] = [];
  for (const on of [false, true, true, false]) {
    process.stdout.write(`metrics ${on ? 'on ' : 'off'}: claim storm, ${USERS} users, ${SLOTS} slots, ${CONCURRENCY} clients … `);
    const r = await run(db, on);
    console.log(`${r.claimsPerSecond} claims/s, p99 ${r.latencyMs.p99} ms${r.audit.ok ? '' : ` AUDIT: ${r.audit.problems.join('; ')}`}`);
    runs.push(r);
  }
  const mean = (side: 'on' | 'off', pick: (r: Run) => number) => {
    const some = runs.filter((r) => r.metrics === side);
    return some.reduce((sum, r) => sum + pick(r), 0) / some.length;
  };
  const ratio = round(mean('on', (r) => r.claimsPerSecond) / mean('off', (r) => r.claimsPerSecond));
  const p99Ratio = round(mean('on', (r) => r.latencyMs.p99) / mean('off', (r) => r.latencyMs.p99));
  console.log(`\nmetrics on ÷ off: ${ratio}x claims/s, ${p99Ratio}x p99 latency`);
  console.table(runs.map((r) => ({ metrics: r.metrics, 'claims/s': r.claimsPerSecond, 'attempts/s': r.attemptsPerSecond, 'p50 ms': r.latencyMs.p50, 'p99 ms': r.latencyMs.p99, scrapes: r.scrapes, audit: r.audit.ok ? 'ok' : r.audit.problems.join('; ') })));
  return { ratio, p99Ratio, settings: { users: USERS, slots: SLOTS, concurrency: CONCURRENCY }, runs };
}
