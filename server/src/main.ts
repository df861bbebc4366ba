import cluster from 'node:cluster';
import { once } from 'node:events';
import { buildServer, closePool, openMigrated, ownSignals, printBanner, provision } from './boot.ts';
import { runPrimary, runWorker } from './cluster.ts';
import { ConfigError, loadConfig } from './config.ts';
import { startMaintenance } from './db/maintenance.ts';
import { createLogger } from './logger.ts';
import { superviseSendWorker, type SendWorker } from './send-worker-supervisor.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  // A promise some library forgot to handle (a Redis publish while Redis is down, say) is logged,
  // not allowed to take down a server that is still serving everyone else.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  // WORKERS=N: this file is also each worker's entry point (cluster.ts forks it with DROPSPOT_WORKER
  // set). Only that: run as a cluster worker by something else (pm2's cluster mode), it serves alone.
  if (cluster.isWorker && process.env.DROPSPOT_WORKER) return runWorker(config, logger);
  if (config.workers > 1) return runPrimary(config, logger);

  const { database, orm } = await openMigrated(config, logger, config.dbPoolMax);
  let server;
  try {
    server = await buildServer(config, logger, orm);
  } catch (error) {
    await database.stop();
    throw error;
  }
  const { httpServer, services, start, close, metrics } = server;
  await provision(config, logger, orm, services);

  const stopMaintenance = startMaintenance(orm, logger, { outboxRetentionHours: config.outboxRetentionHours });
  let sendWorker: SendWorker | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      stopMaintenance();
      await close();
      await sendWorker?.stop();
      await closePool(orm, logger);
    } finally {
      await database.stop();
      logger.info('stopped');
      process.exit(0);
    }
  };
  // This process owns its signals and stops the database itself, last (see ownSignals).
  ownSignals((signal) => void shutdown(signal));
  await start();
  if (config.sendWorker.mode === 'process') sendWorker = superviseSendWorker({ databaseUrl: database.url, logger, metrics });
  httpServer.listen(config.port, config.host);
  await once(httpServer, 'listening');
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = config.publicUrl ?? `http://localhost:${port}`;
  printBanner(config, url);
  logger.info({ url, database: database.embedded ? 'embedded' : 'DATABASE_URL' }, 'DropSpot is ready');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error('DropSpot failed to start:', error);
  }
  process.exit(1);
});
