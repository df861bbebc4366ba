import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../mikro-orm.config.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/orm.ts';
import { createLogger } from '../logger.ts';

/**
 * `npm run migration:up`: applies the committed migrations that are pending, exactly as the app
 * does at start (one transaction, under the advisory lock replicas share), to DATABASE_URL or,
 * without it, to the embedded database in .data/ (started for the while). Prints what it applied.
 * The app migrates by itself at start; this is for an operator who wants the schema ready first.
 * With DATABASE_URL nothing else is read: a migration job needs no secrets.
 */
async function open(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} };
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  return openDatabase(config, createLogger(config));
}

let failed = false;
try {
  const database = await open();
  try {
    const orm = await MikroORM.init(ormConfig(database.url, { logger: () => {} }));
    try {
      const applied = await migrate(orm);
      console.log(applied.length === 0 ? 'Nothing to apply: the schema is up to date.' : `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}: ${applied.join(', ')}.`);
    } finally {
      await orm.close();
    }
  } finally {
    await database.stop();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `Migrating failed: ${(error as Error).message}`);
  failed = true;
}
process.exit(failed ? 1 : 0);
