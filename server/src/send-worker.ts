import os from 'node:os';
import { ConfigError, loadConfig } from './config.ts';
import { closeOrm, initOrm } from './db/orm.ts';
import { createLogger } from './logger.ts';
import { noMetrics, type Metrics } from './observability/metrics.ts';
import { createServices } from './services.ts';
import { quietGate, type ServerMessage, type WorkerMessage } from './send-worker-supervisor.ts';

/** The longest one batch waits for a busy server: under a storm that lasts, sending slows, never stops. */
const MAX_YIELD_MS = 2000;

/**
 * The send worker: delivers the mail queue (address checks, password resets) and plans and sends
 * notifications (email and Web Push), and nothing else. `npm start` forks it (see
 * send-worker-supervisor.ts) and lowers its CPU priority, so at the second a window opens the
 * claims get the cores and the messages follow as soon as there is room; on a machine with a
 * spare core it simply uses that. Run on its own (`npm run send-worker`, with DATABASE_URL) for a
 * deployment whose servers set SEND_WORKER=off.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config).child({ process: 'send-worker' });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  if (!config.databaseUrl) throw new ConfigError('The send worker needs DATABASE_URL (npm start passes its own database to the worker it forks).');
  try {
    os.setPriority(config.sendWorker.nice);
  } catch (error) {
    logger.warn({ err: error, nice: config.sendWorker.nice }, 'could not lower the send worker’s CPU priority; it runs at the default');
  }
  const orm = await initOrm(config.databaseUrl, { pool: { min: 0, max: 4 } });
  const parent = process.send?.bind(process);
  // Deliveries are counted in the forking server's /metrics: each is reported to it.
  const metrics: Metrics = parent ? { ...noMetrics, notification: (channel, result) => void parent({ type: 'notification', channel, result } satisfies WorkerMessage) } : noMetrics;
  // The server says when its event loop is busy; each batch then waits for it to calm down, 2 s at most.
  const gate = quietGate(MAX_YIELD_MS);
  process.on('message', (message: ServerMessage) => {
    if (message.type === 'busy') gate.set(message.busy);
  });
  const whenQuiet = gate.whenQuiet;
  const services = createServices({ config, orm, logger, metrics, whenQuiet });
  await services.mailer.start({ work: true });
  await services.notifications.start({ work: true });

  let stopping = false;
  const shutdown = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'send worker stopping');
    try {
      await services.notifications.stop();
      await services.mailer.stop();
      await closeOrm(orm);
    } finally {
      process.exit(0);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(signal));
  // A forked worker whose server is gone (killed without a chance to stop it) stops too.
  process.once('disconnect', () => void shutdown('the server that forked it is gone'));
  logger.info({ nice: os.getPriority() }, 'send worker ready');
  parent?.({ type: 'ready' } satisfies WorkerMessage);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
