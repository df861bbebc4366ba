import type { Orm } from '../db/orm.ts';
import type { Metrics } from './metrics.ts';

/**
 * Scrape-time readings of the database: the outbox's lag (age of the oldest event committed but
 * not yet published; the partial index on unpublished rows makes it one index probe) and the
 * connection pool (in use, idle, and queries waiting for a connection). Returns its removal.
 */
export function watchDatabaseGauges(metrics: Metrics, orm: Orm): () => void {
  return metrics.onScrape(async (gauges) => {
    const connection = orm.em.getConnection();
    const pool = await connection.getNativeClient();
    gauges.dbPool(pool.totalCount - pool.idleCount, pool.idleCount, pool.waitingCount);
    const [oldest] = await connection.execute<{ lag: number }[]>(
      'select extract(epoch from clock_timestamp() - created_at)::float8 as lag from "outbox_event" where seq is null order by id limit 1',
    );
    gauges.outboxLag(Math.max(0, oldest?.lag ?? 0));
  });
}
