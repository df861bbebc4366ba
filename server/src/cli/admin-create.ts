import { parseArgs } from 'node:util';
import { createServices } from '../services.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { initOrm } from '../db/orm.ts';
import { createLogger } from '../logger.ts';
import { emailSchema, passwordSchema } from '@dropspot/protocol';

/** `npm run admin:create -- --email a@b.c --password ...` (or ADMIN_EMAIL / ADMIN_PASSWORD). */
const { values } = parseArgs({ options: { email: { type: 'string' }, password: { type: 'string' } } });
const email = emailSchema.safeParse(values.email ?? process.env.ADMIN_EMAIL);
const password = passwordSchema.safeParse(values.password ?? process.env.ADMIN_PASSWORD);
if (!email.success || !password.success) {
  console.error('usage: npm run admin:create -- --email <email> --password <at least 10 characters>');
  process.exit(2);
}

const config = loadConfig({ ...process.env, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger(config);
const database = await openDatabase(config, logger);
try {
  const orm = await initOrm(database.url, { logger: (message) => logger.info({ orm: message }) });
  try {
    const { user, created } = await createServices({ config, orm }).auth.ensureUser(email.data, password.data, 'ADMIN');
    console.log(`${created ? 'Created' : 'Updated'} admin ${user.email} (${user.id}).`);
  } finally {
    await orm.close();
  }
} finally {
  await database.stop();
}
