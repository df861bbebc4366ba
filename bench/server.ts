/**
 * The server under benchmark: the real app (createApp) in its own process, so the load generator
 * does not share its event loop, with the logger `npm start` uses (one line per request at the
 * default level). BENCH_ENGINE=original swaps the claim for the original case's design, for the
 * side-by-side run; BENCH_ENGINE=ceiling for an answer without the database (the stack's own
 * ceiling). Mail and notifications are sent as `npm start` sends them: by a forked send worker at
 * a lower CPU priority (SEND_WORKER=inline to send from this process). Prints "READY <port>" on stdout.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp } from '../server/src/app.ts';
import { loadConfig } from '../server/src/config.ts';
import { initOrm } from '../server/src/db/orm.ts';
import { createLogger } from '../server/src/logger.ts';
import { superviseSendWorker } from '../server/src/send-worker-supervisor.ts';
import { ceilingClaim } from './ceiling.ts';
import { originalDesignClaim } from './original-design.ts';

const config = loadConfig();
const orm = await initOrm(config.databaseUrl!, { pool: { min: 0, max: config.dbPoolMax }, logger: () => {} });
const logger = createLogger(config);
const { httpServer, services, start, close, metrics } = createApp({
  config,
  orm,
  logger,
  realtimeLimits: { eventsPerSecond: 100_000, eventsPerIpPerSecond: 100_000, floodStrikes: 1_000_000 },
});
if (process.env.BENCH_ENGINE === 'original') services.claims.claim = originalDesignClaim(orm);
if (process.env.BENCH_ENGINE === 'ceiling') services.claims.claim = ceilingClaim();
await start();
const sendWorker = config.sendWorker.mode === 'process' ? superviseSendWorker({ databaseUrl: config.databaseUrl!, logger, metrics }) : undefined;
// The worker's own start-up (loading the app's modules) would otherwise land in the first storm.
await sendWorker?.ready();
if (process.env.BENCH_PROFILE === 'storm') {
  // The load generator marks a storm's start and end with SIGUSR2: a profile of the storm alone,
  // without the start-up, the connecting and the audit. Installed before READY: the first mark may
  // follow it at once, and SIGUSR2's default action ends the process.
  const { Session } = await import('node:inspector/promises');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  let running = false;
  let count = 0;
  process.on('SIGUSR2', () => {
    running = !running;
    if (running) return void session.post('Profiler.start');
    void session.post('Profiler.stop').then(({ profile }) => {
      const dir = new URL('./results/profiles/', import.meta.url);
      mkdirSync(dir, { recursive: true });
      writeFileSync(new URL(`storm-${process.env.BENCH_LABEL ?? process.pid}-${++count}.cpuprofile`, dir), JSON.stringify(profile));
    });
  });
}
httpServer.listen(0, '127.0.0.1');
await once(httpServer, 'listening');
console.log(`READY ${(httpServer.address() as AddressInfo).port}`);
process.once('SIGTERM', () => {
  void close()
    .then(() => sendWorker?.stop())
    .then(() => orm.close())
    .finally(() => process.exit(0));
});
