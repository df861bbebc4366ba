import type { Logger } from 'pino';
import { sql } from 'kysely';
import { db } from '../db/kysely.ts';
import type { Orm } from '../db/orm.ts';
import { STREAM_COLUMNS, toStreamEvent, type PublishedEvent } from '../modules/events/stream-event.ts';

/** Held (transaction-scoped) by the one process that publishes at a time. */
const RELAY_LOCK = 7_340_017;
const BATCH = 500;

/**
 * Publishes committed outbox rows in order, exactly once across processes: a transaction-scoped
 * advisory lock lets one process at a time give the next rows their gap-free `seq` and commit;
 * only then are they handed to `publish`. Runs when poked after a commit, and on a short poll so
 * rows committed by a process that died before publishing still go out.
 */
export function createOutboxRelay(deps: { orm: Orm; logger: Logger; publish: (events: PublishedEvent[]) => void; pollMs?: number }) {
  const { orm, logger, publish } = deps;
  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  /** Publishes one batch; -1 when another process holds the lock (it is publishing right now). */
  async function publishBatch(): Promise<number> {
    const rows = await orm.em.fork().transactional(async (em) => {
      // Raw: an advisory lock is a function call on no table, nothing for a query builder to type.
      const [lock] = await em.execute<{ locked: boolean }[]>('select pg_try_advisory_xact_lock(?) as locked', [RELAY_LOCK]);
      if (!lock?.locked) return undefined;
      return db(em)
        .with('base', (q) => q.selectFrom('outbox_event').select(sql<number>`coalesce(max(seq), 0)`.as('top')))
        .with('batch', (q) =>
          q.selectFrom('outbox_event').select(['id', sql<number>`row_number() over (order by id)`.as('n')]).where('seq', 'is', null).orderBy('id').limit(BATCH),
        )
        .updateTable('outbox_event')
        .from(['batch', 'base'])
        .set((eb) => ({ seq: eb('base.top', '+', eb.ref('batch.n')), publishedAt: sql<Date>`now()` }))
        .whereRef('outbox_event.id', '=', 'batch.id')
        .returning(STREAM_COLUMNS)
        .execute();
    });
    if (!rows) return -1;
    if (rows.length > 0) {
      const events = rows.map(toStreamEvent).sort((a, b) => a.id - b.id);
      try {
        publish(events);
      } catch (error) {
        logger.error({ err: error }, 'publishing events failed');
      }
    }
    return rows.length;
  }

  async function drain(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        let published: number;
        while (!stopped && (published = await publishBatch()) === BATCH);
        // Another process holds the lock: it may have started before our rows committed, so look
        // again shortly rather than at the next poll.
        if (published! === -1 && !stopped) setTimeout(() => void drain(), 20).unref();
      } while (again && !stopped);
    } catch (error) {
      logger.warn({ err: error }, 'outbox relay could not publish; will retry');
    } finally {
      running = false;
    }
  }

  return {
    poke(): void {
      if (!stopped) void drain();
    },
    start(): void {
      timer = setInterval(() => void drain(), deps.pollMs ?? 250);
      timer.unref();
      void drain();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      while (running) await new Promise((resolve) => setTimeout(resolve, 10));
    },
  };
}

export type OutboxRelay = ReturnType<typeof createOutboxRelay>;
