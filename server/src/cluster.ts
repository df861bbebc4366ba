import type { SendHandle } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setupPrimary as setupClusterAdapter } from '@socket.io/cluster-adapter';
import { setupMaster, setupWorker } from '@socket.io/sticky';
import type { Logger } from 'pino';
import { buildServer, closePool, openMigrated, ownSignals, printBanner, provision } from './boot.ts';
import type { Config } from './config.ts';
import { startMaintenance } from './db/maintenance.ts';
import type { Orm } from './db/orm.ts';
import { superviseSendWorker, watchBusy, type SendWorker } from './send-worker-supervisor.ts';
import { createServices } from './services.ts';

/**
 * WORKERS=N: N server processes behind one port on this machine (node:cluster).
 *
 * The primary opens the database (the embedded PostgreSQL starts here, once), migrates, provisions
 * ADMIN_EMAIL and the demo data once, runs the maintenance timer and the one send worker, forks the
 * workers and listens on PORT. Each connection it accepts is handed to a worker by
 * @socket.io/sticky: a long-polling request that names a Socket.IO session (`sid`) goes to the
 * worker holding it, anything else round-robin. A request without a body is handed over with its
 * socket; one with a body (`Content-Length`, so every POST) stays on the primary's socket and its
 * bytes travel over IPC both ways. Workers answer with `Connection: close`, so a kept-alive
 * connection never carries a request to the wrong worker.
 *
 * Each worker builds the whole app on the primary's database (DATABASE_URL in its environment)
 * and serves; rooms and the event stream span the workers through Redis when REDIS_URL is set
 * (across machines too), else through @socket.io/cluster-adapter, which relays via the primary.
 */

/** What a worker tells the primary (beside sticky's and the adapter's own messages). */
type FromWorker =
  | { dropspot: 'ready' }
  | { dropspot: 'busy'; busy: boolean }
  | { dropspot: 'bye' }
  // Sticky's own message (it routes `sid` to this worker from now on), asking for an answer.
  | { dropspot: 'session'; type: 'sticky:connection'; data: string };
/** What the primary tells a worker: a delivery of the send worker (for its metrics); a session it now routes there. */
type ToWorker = { dropspot: 'notification'; channel: 'mail' | 'push'; result: 'sent' | 'failed' | 'gone' } | { dropspot: 'session-known'; sid: string };

/** The primary's own connections: migrations, provisioning, maintenance. */
const PRIMARY_POOL = 4;
/** A worker that ran this long before it ended was healthy: the next restart waits the shortest delay again. */
const HEALTHY_MS = 30_000;
/** How long a worker may take to finish what it holds after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 30_000;
const WORKER_SLOT = 'DROPSPOT_WORKER';

const workers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
// A message to a process whose channel just closed is dropped: without a callback, Node would
// raise it as an 'error' event nobody listens to, and end this process.
const ignore = () => {};
const toWorker = (worker: Worker | undefined, message: ToWorker) => worker?.send(message, undefined, ignore);
const toPrimary = (message: FromWorker, done: () => void = ignore) => (process.connected ? process.send?.(message, undefined, {}, done) : done());

export async function runPrimary(config: Readonly<Config>, logger: Logger): Promise<void> {
  const { database, orm } = await openMigrated(config, logger, PRIMARY_POOL);
  const server = net.createServer();
  let stopping = false;
  let ready = false;
  let sendWorker: SendWorker | undefined;
  let stopMaintenance = () => {};
  const restarts = new Set<NodeJS.Timeout>();

  const shutdown = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, 'shutting down');
    try {
      server.close();
      for (const timer of restarts) clearTimeout(timer);
      await stopWorkers(logger);
      stopMaintenance();
      await sendWorker?.stop();
      await closePool(orm, logger);
    } finally {
      await database.stop();
      logger.info('stopped');
      process.exit(code);
    }
  };
  ownSignals((signal) => void shutdown(signal));

  try {
    await provision(config, logger, orm, createServices({ config, orm, logger }));
    // The primary parses no HTTP: a plain TCP listener whose connections sticky hands over.
    setupMaster(server as unknown as HttpServer, { loadBalancingMethod: 'round-robin' });
    if (!config.redisUrl) setupClusterAdapter();
    cluster.setupPrimary({ exec: path.join(import.meta.dirname, 'cluster-worker.cts'), serialization: 'advanced' });

    // Which slot (1..N) each worker fills, when it started, and how often the slot failed in a row.
    const slots = new Map<number, { slot: number; started: number }>();
    const failures = new Map<number, number>();
    const fork = (slot: number) => slots.set(cluster.fork({ DATABASE_URL: database.url, [WORKER_SLOT]: String(slot) }).id, { slot, started: Date.now() });

    // "The server is busy" for the send worker: any worker's event loop is.
    const busy = new Set<number>();
    let busyChanged: (busy: boolean) => void = () => {};
    const setBusy = (id: number, value: boolean) => {
      const before = busy.size > 0;
      if (value) busy.add(id);
      else busy.delete(id);
      if (before !== busy.size > 0) busyChanged(busy.size > 0);
    };

    let readyCount = 0;
    let allReady = () => {};
    const started = new Promise<void>((resolve) => (allReady = resolve));
    cluster.on('message', (worker, message: FromWorker | undefined) => {
      if (message?.dropspot === 'busy') setBusy(worker.id, message.busy);
      // Sticky's listener (registered first) has just recorded the session: say so.
      else if (message?.dropspot === 'session') toWorker(worker, { dropspot: 'session-known', sid: message.data });
      else if (message?.dropspot === 'ready' && !ready && ++readyCount === config.workers) allReady();
    });
    cluster.on('exit', (worker, code, signal) => {
      setBusy(worker.id, false);
      const { slot, started: at } = slots.get(worker.id) ?? { slot: 0, started: 0 };
      slots.delete(worker.id);
      if (stopping) return;
      if (!ready) {
        logger.error({ worker: slot, code, signal }, 'a worker ended before it was ready: stopping');
        void shutdown('a worker failed to start', 1);
        return;
      }
      const failed = Date.now() - at > HEALTHY_MS ? 1 : (failures.get(slot) ?? 0) + 1;
      failures.set(slot, failed);
      const delay = Math.min(30_000, 1000 * 2 ** (failed - 1));
      logger.error({ worker: slot, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'a worker ended unexpectedly; starting another');
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) fork(slot);
      }, delay);
      restarts.add(timer);
    });
    for (let slot = 1; slot <= config.workers; slot++) fork(slot);
    await started;
    ready = true;

    stopMaintenance = startMaintenance(orm, logger, { outboxRetentionHours: config.outboxRetentionHours });
    if (config.sendWorker.mode === 'process') {
      sendWorker = superviseSendWorker({
        databaseUrl: database.url,
        logger,
        // Its deliveries are counted by a worker, where /metrics is served.
        metrics: { notification: (channel, result) => toWorker(workers()[0], { dropspot: 'notification', channel, result }) },
        busy: (changed) => {
          busyChanged = changed;
          return () => (busyChanged = () => {});
        },
      });
    }
    server.listen(config.port, config.host);
    await once(server, 'listening');
  } catch (error) {
    logger.error({ err: error }, 'DropSpot failed to start');
    await shutdown('start failed', 1);
    return;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = config.publicUrl ?? `http://localhost:${port}`;
  printBanner(config, url);
  logger.info({ url, workers: config.workers, database: database.embedded ? 'embedded' : 'DATABASE_URL' }, 'DropSpot is ready');
}

/** SIGTERM to every worker (each finishes what it holds, as one process would), SIGKILL to one that does not end in time. */
async function stopWorkers(logger: Logger): Promise<void> {
  await Promise.all(
    workers().map(async (worker) => {
      // Gone once it has exited and its IPC channel is read to the end (the last answers it relayed).
      const exited = Promise.all([once(worker, 'exit'), worker.isConnected() ? once(worker, 'disconnect') : undefined]);
      // Not worker.kill(): it cuts the IPC channel first, and with it the answers still travelling through the primary.
      worker.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        logger.warn({ workerPid: worker.process.pid }, 'a worker did not stop in time; killing it');
        worker.process.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Sticky's messages (connections and their bytes) held since the worker started (cluster-worker.cts). */
type Held = { held: [unknown, SendHandle][]; hold: (message: unknown, handle: SendHandle) => void };
const HELD = Symbol.for('dropspot.held-connections');

export async function runWorker(config: Readonly<Config>, logger: Logger): Promise<void> {
  const slot = Number(process.env[WORKER_SLOT] ?? cluster.worker?.id ?? 1);
  const log = logger.child({ worker: slot });
  // A worker restarted while the others serve is handed connections at once: they wait, in
  // order, until the app is started (held by cluster-worker.cts from the process's first moment).
  const { held, hold } = (globalThis as { [HELD]?: Held })[HELD] ?? { held: [], hold: () => {} };
  // With METRICS_PORT each worker serves its own metrics, on METRICS_PORT + slot - 1.
  const metricsPort = config.metrics.port ? config.metrics.port + slot - 1 : config.metrics.port;
  const own: Readonly<Config> = Object.freeze({ ...config, metrics: { ...config.metrics, port: metricsPort } });

  let stopping = false;
  const app: { serving?: { close: () => Promise<void>; orm: Orm; inFlight: () => number; closeAll: () => void } } = {};
  const shutdown = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: reason }, 'worker shutting down');
    try {
      const { serving } = app;
      if (serving) {
        // Sockets are told and closed, the relay stops; requests in flight (a claim being committed) finish.
        await serving.close();
        const until = Date.now() + 10_000;
        while (serving.inFlight() > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
        serving.closeAll();
        await closePool(serving.orm, log);
      }
    } finally {
      // Answers relayed through the primary are IPC messages still queued in this process:
      // exiting now would drop them. IPC keeps order, so once a last message is written, they are.
      await new Promise((resolve) => {
        setTimeout(resolve, 1000).unref();
        toPrimary({ dropspot: 'bye' }, () => resolve(undefined));
      });
      process.exit(0);
    }
  };
  ownSignals((signal) => void shutdown(signal));
  // The primary is gone (killed): nobody hands this worker connections any more.
  process.once('disconnect', () => void shutdown('the primary is gone'));

  const { orm } = await openMigrated(own, log, own.dbPoolMax);
  const server = await buildServer(own, log, orm, { clusterAdapter: !own.redisUrl });
  // This server never listens: http.Server.close() does not wait for the connections sticky hands in, so they are counted here.
  let inFlight = 0;
  server.httpServer.on('request', (_req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
  });
  const known = new Map<string, () => void>();
  process.on('message', (message: ToWorker | undefined) => {
    if (message?.dropspot === 'notification') server.metrics.notification(message.channel, message.result);
    else if (message?.dropspot === 'session-known') known.get(message.sid)?.();
  });
  // Sticky tells the primary about a new session only once the handshake is answered, and the
  // answer goes straight to the client: a long-polling client's next request could reach the
  // primary first and be routed to another worker ("Session ID unknown"). The handshake waits
  // until the primary has recorded the session (1 s at most).
  const { engine } = server.realtime.io;
  const newId = engine.generateId.bind(engine);
  engine.generateId = async (req) => {
    const sid = await newId(req);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        known.delete(sid);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      known.set(sid, done);
      toPrimary({ dropspot: 'session', type: 'sticky:connection', data: sid });
    });
    return sid;
  };
  await server.start();
  app.serving = { close: server.close, orm, inFlight: () => inFlight, closeAll: () => server.httpServer.closeAllConnections() };
  if (stopping) return;
  watchBusy((busy) => toPrimary({ dropspot: 'busy', busy }));
  setupWorker(server.realtime.io as unknown as Parameters<typeof setupWorker>[0]);
  process.off('message', hold);
  for (const [message, handle] of held.splice(0)) process.emit('message', message, handle);
  log.info('worker ready');
  toPrimary({ dropspot: 'ready' });
}
