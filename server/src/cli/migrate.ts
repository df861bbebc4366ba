import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../mikro-orm.config.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/orm.ts';
import { createLogger } from '../logger.ts';

/**
 * `npm run migration:up`: applies the committed migrations that are pending, exactly as the app
 * does at start (one transaction, under the advisory lock replicas share), to DATABASE_URL or,
 * without it, to the embedded database in .data/ (started for the while). Prints what it applied.
 * The app migrates by itself at start; this is for an operator who wants the schema ready first.
 */
const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger(config);
const database = await openDatabase(config, logger);
let failed = false;
try {
  const orm = await MikroORM.init(ormConfig(database.url, { logger: (message) => logger.info({ orm: message }) }));
  try {
    const applied = await migrate(orm);
    console.log(applied.length === 0 ? 'Nothing to apply: the schema is up to date.' : `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}: ${applied.join(', ')}.`);
  } finally {
    await orm.close();
  }
} catch (error) {
  console.error(`Migrating failed: ${(error as Error).message}`);
  failed = true;
} finally {
  await database.stop();
}
process.exit(failed ? 1 : 0);
