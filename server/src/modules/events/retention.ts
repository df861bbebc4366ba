import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';

/** Rows deleted per statement, so a first prune of a long history does not hold one huge transaction. */
const CHUNK = 10_000;

/** The id of the oldest published event still kept (0 before the first event). */
export async function oldestEventId(em: EntityManager): Promise<number> {
  // Named after its column, so the bigint is converted as the column's (it arrives as text).
  const row = await db(em).selectFrom('outbox_event').select((eb) => eb.fn.min('seq').as('seq')).executeTakeFirst();
  return row?.seq ?? 0;
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
  const q = db(orm.em.fork());
  // `old` and `horizon` are computed bigints, not columns: they arrive as PostgreSQL's text.
  const row = await q
    .selectNoFrom((eb) => {
      const old = eb
        .selectFrom('outbox_event')
        .select((s) => s.fn.max('seq').as('n'))
        .where('seq', 'is not', null)
        .where('publishedAt', '<', sql<Date>`now() - make_interval(hours => ${retentionHours})`)
        .$castTo<{ n: string | null }>();
      return [
        old.as('old'),
        eb
          .fn<string | null>('least', [
            old,
            eb.selectFrom('outbox_event').select((s) => s(s.fn.max('seq'), '-', 1).as('n')),
            eb
              .selectFrom('webhook_delivery')
              .select((s) => s(s.fn.min('eventSeq'), '-', 1).as('n'))
              .where('status', '=', 'PENDING'),
            eb
              .selectFrom('webhook_endpoint')
              .select((s) => s.fn.min('lastSeq').as('n'))
              .where('enabled', '=', true),
          ])
          .as('horizon'),
      ];
    })
    .executeTakeFirst();
  if (row?.old == null || row.horizon == null) return 0;
  const horizon = Number(row.horizon);
  let deleted = 0;
  for (;;) {
    const gone = await q
      .deleteFrom('outbox_event')
      .where('id', 'in', (eb) => eb.selectFrom('outbox_event').select('id').where('seq', 'is not', null).where('seq', '<=', horizon).orderBy('seq').limit(CHUNK))
      .executeTakeFirst();
    const count = Number(gone.numDeletedRows);
    deleted += count;
    if (count < CHUNK) return deleted;
  }
}
