import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../mikro-orm.config.ts';

export type Orm = MikroORM;

/** The advisory lock every DropSpot process takes to migrate (any number, the same everywhere). */
const MIGRATION_LOCK = 4_711_042_016;

/**
 * Connects and applies every pending committed migration, so the schema always matches the code.
 * Processes starting at once (replicas after an upgrade) take turns: each migrates inside one
 * transaction holding a PostgreSQL advisory lock, so the first applies what is pending and the
 * others, once it committed, find nothing left to do.
 */
export async function initOrm(clientUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  const orm = await MikroORM.init(ormConfig(clientUrl, overrides));
  try {
    await migrate(orm);
  } catch (error) {
    await orm.close();
    throw error;
  }
  return orm;
}

/** Applies the pending migrations under the advisory lock (as `initOrm` does); returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const connection = orm.em.getConnection();
  return connection.transactional(async (transaction) => {
    await connection.execute('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK], 'all', transaction);
    return (await orm.migrator.up({ transaction })).map((migration) => migration.name);
  });
}

/** Whether the database answers: a ping on a pooled connection, raw SQL because it reads no table. */
export async function pingDatabase(orm: Orm): Promise<void> {
  await orm.em.getConnection().execute('select 1');
}

/**
 * Closes the connection pool, waiting at most `timeoutMs` for connections still checked out.
 * A query started while the process was closing has been seen to leave its connection checked out
 * without ever reaching the server (pool.end() then waits forever); a shutdown must not hang on it.
 * Returns false when it gave up waiting.
 */
export async function closeOrm(orm: Orm, timeoutMs = 5000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([orm.close().then(() => true as const), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}
