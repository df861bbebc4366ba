import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../mikro-orm.config.ts';

export type Orm = MikroORM;

/** Connects and applies every pending committed migration, so the schema always matches the code. */
export async function initOrm(clientUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  const orm = await MikroORM.init(ormConfig(clientUrl, overrides));
  await orm.migrator.up();
  return orm;
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
