import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { embeddedDatabaseUrl } from '../../../mikro-orm.config.ts';
import type { Config } from '../config.ts';

export interface Database {
  url: string;
  embedded: boolean;
  /** Stops the embedded server if this process started it; a no-op otherwise. */
  stop(): Promise<void>;
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * DATABASE_URL when set; otherwise the embedded PostgreSQL under `.data/pg`, started here unless
 * another DropSpot process (the app, while `npm run admin:create` runs) already runs it.
 */
export async function openDatabase(config: Readonly<Config>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  const url = embeddedDatabaseUrl(config.embeddedPgPort);
  if (await portInUse(config.embeddedPgPort)) {
    logger.info({ port: config.embeddedPgPort }, 'using the embedded PostgreSQL another process started');
    return { url, embedded: true, stop: async () => {} };
  }
  // A development dependency, loaded only here: a production install (`npm ci --omit=dev`, the
  // Docker image) has no embedded PostgreSQL and must be given DATABASE_URL.
  const { startEmbeddedPostgres } = await import('./embedded-postgres.ts').catch((error: unknown) => {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error('DATABASE_URL is not set, and this installation has no embedded PostgreSQL (it was installed without development dependencies): set DATABASE_URL.', { cause: error });
  });
  const started = Date.now();
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(config.dataDir, 'pg'),
    port: config.embeddedPgPort,
    persistent: true,
    log: (line) => logger.debug({ pg: line }),
    logger,
  });
  logger.info({ port: pg.port, ms: Date.now() - started, dataDir: path.join(config.dataDir, 'pg') }, 'embedded PostgreSQL 17 started');
  return { url, embedded: true, stop: () => pg.stop() };
}
