import { sql } from 'kysely';
import { clock, db } from '../db/kysely.ts';
import type { Orm } from '../db/orm.ts';
import type { Metrics } from './metrics.ts';

/**
 * Scrape-time readings of the database: the outbox's lag (age of the oldest event committed but
 * not yet published; the partial index on unpublished rows makes it one index probe) and the
 * connection pool (in use, idle, and queries waiting for a connection). Returns its removal.
 */
export function watchDatabaseGauges(metrics: Metrics, orm: Orm): () => void {
  return metrics.onScrape(async (gauges) => {
    const pool = await orm.em.getConnection().getNativeClient();
    gauges.dbPool(pool.totalCount - pool.idleCount, pool.idleCount, pool.waitingCount);
    const oldest = await db(orm.em.fork())
      .selectFrom('outbox_event')
      .select((eb) => sql<number>`extract(epoch from ${clock} - ${eb.ref('createdAt')})::float8`.as('lag'))
      .where('seq', 'is', null)
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    gauges.outboxLag(Math.max(0, oldest?.lag ?? 0));
  });
}
