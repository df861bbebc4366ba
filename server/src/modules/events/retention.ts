import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';

/** Rows deleted per statement, so a first prune of a long history does not hold one huge transaction. */
const CHUNK = 10_000;

/** The id of the oldest published event still kept (0 before the first event). */
export async function oldestEventId(em: Pick<EntityManager, 'execute'>): Promise<number> {
  const [row] = await em.execute<{ oldest: string | null }[]>(`select min(seq) as oldest from "outbox_event"`);
  return Number(row?.oldest ?? 0);
}

/** The refusal for a reader that needs events older than what is kept. */
export function eventsExpired(oldest: number, what: string): DomainError {
  return new DomainError('EVENTS_EXPIRED', `${what} is older than the event history kept (the oldest event kept is ${oldest}); start again from there.`, {
    extra: { oldestEventId: oldest },
  });
}

/**
 * Prunes published events older than `retentionHours`, always as a prefix of the stream: the
 * events kept are every id from some horizon up to the newest, so a reader sees an expired
 * position (EVENTS_EXPIRED) rather than a hole. The horizon stops short of
 *  - the newest event (its `seq` numbers the next ones),
 *  - the first event a webhook delivery still has to send (PENDING, even on a disabled endpoint),
 *  - the events an enabled endpoint has not queued yet (after its cursor).
 * Returns how many rows went.
 */
export async function pruneOutbox(orm: Orm, retentionHours: number): Promise<number> {
  const em = orm.em.fork();
  const [row] = await em.execute<{ old: string | null; horizon: string | null }[]>(
    `select (select max(seq) from "outbox_event" where seq is not null and published_at < now() - make_interval(hours => ?)) as old,
            least(
              (select max(seq) from "outbox_event" where seq is not null and published_at < now() - make_interval(hours => ?)),
              (select max(seq) - 1 from "outbox_event"),
              (select min(event_seq) - 1 from "webhook_delivery" where status = 'PENDING'),
              (select min(last_seq) from "webhook_endpoint" where enabled)
            ) as horizon`,
    [retentionHours, retentionHours],
  );
  if (row?.old == null || row.horizon == null) return 0;
  const horizon = Number(row.horizon);
  let deleted = 0;
  for (;;) {
    const gone = await em.getConnection().execute<{ affectedRows: number }>(
      `delete from "outbox_event" where id in (select id from "outbox_event" where seq is not null and seq <= ? order by seq limit ?)`,
      [horizon, CHUNK],
      'run',
    );
    deleted += gone.affectedRows;
    if (gone.affectedRows < CHUNK) return deleted;
  }
}
