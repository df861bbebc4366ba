import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { closeOrm, initOrm } from '../src/db/orm.ts';
import { createServices } from '../src/services.ts';
import { TEST_SECRET, testDatabaseUrl } from './support/app.ts';

/**
 * Processes starting together on a database whose mail queues do not exist yet (WORKERS=N on a
 * fresh database; replicas after a first deployment) each create them. pg-boss makes a queue's
 * partition with DDL, and two processes doing it at once deadlocked: one of them failed to start.
 */
describe('the mail and notification queues', () => {
  it('start in several processes at once on a fresh database', { timeout: 60_000 }, async () => {
    // This file's database is a fresh copy of the migrated template: no queue exists in it yet.
    const databaseUrl = await testDatabaseUrl();
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl, JWT_ACCESS_SECRET: TEST_SECRET, ALTCHA_HMAC_KEY: TEST_SECRET });
    const orms = await Promise.all(Array.from({ length: 4 }, () => initOrm(databaseUrl, { pool: { min: 0, max: 2 }, logger: () => {} })));
    const all = orms.map((orm) => createServices({ config, orm }));
    try {
      // As app.ts starts them (only enqueueing, as the workers of WORKERS=N do).
      const started = await Promise.allSettled(
        all.map(async (services) => {
          await services.mailer.start({ work: false });
          await services.notifications.start({ work: false });
        }),
      );
      expect(started.filter((result) => result.status === 'rejected')).toEqual([]);
    } finally {
      for (const services of all) {
        await services.notifications.stop();
        await services.mailer.stop();
      }
      for (const orm of orms) await closeOrm(orm);
    }
  });
});
