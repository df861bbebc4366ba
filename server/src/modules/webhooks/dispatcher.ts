import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import type { WebhookMessage } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { countInt, db, plusSeconds } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { toPublicEvent } from '../events/event.service.ts';
import { toStreamEvent, type StreamRow } from '../events/stream-event.ts';
import { noMetrics, type Metrics } from '../../observability/metrics.ts';
import { createSender, type AttemptResult } from './sender.ts';

/** Held (transaction-scoped) by the one process queueing deliveries at a time. */
const ENQUEUE_LOCK = 7_340_018;
/** Pending deliveries of one endpoint read per query (then sent one by one, in order). */
const BATCH = 100;
/** The longest wait between two attempts, however many failed. */
const MAX_DELAY_MS = 3_600_000;
const USER_AGENT = 'DropSpot-Webhooks/1';
/** How often a process sending to an endpoint renews its lease and reads the endpoint again. */
const RENEW_EVERY_MS = 1000;
/** Pokes closer together than this share one pass (a claim storm publishes many small batches). */
const MIN_GAP_MS = 50;

/** The `webhook-id` of a delivery: the same on every attempt and redelivery. */
export const webhookId = (deliveryId: string) => `msg_${deliveryId.replaceAll('-', '')}`;

/**
 * `now()`: the start of the statement's transaction. Every statement here but the queueing one
 * runs on its own, so for them it is when the statement started (leases, attempts, retries).
 */
const dbNow = sql<Date>`now()`;

/**
 * An endpoint's first PENDING deliveries in event order, each with its event's columns as
 * StreamRow names them (all null when retention pruned the event), whether it is due, and the wait
 * until it is. The delivery's id is `deliveryId`: a result column is converted as the column of
 * that name in any table of the query, and `id` would be read as the outbox's bigint id (NaN).
 */
function pendingDeliveries(orm: Orm, endpointId: string) {
  return db(orm.em.fork())
    .selectFrom('webhook_delivery as d')
    .leftJoin('outbox_event as o', 'o.seq', 'd.eventSeq')
    .select((eb) => [
      'd.id as deliveryId',
      'd.eventSeq',
      'd.attempts',
      eb('d.nextAttemptAt', '<=', dbNow).as('due'),
      sql<number>`greatest(0, extract(epoch from (${eb.ref('d.nextAttemptAt')} - ${dbNow})) * 1000)::float8`.as('waitMs'),
      'o.seq',
      'o.type',
      'o.dropId',
      'o.userId',
      'o.payload',
      'o.createdAt',
    ])
    .where('d.endpoint', '=', endpointId)
    .where('d.status', '=', 'PENDING')
    .orderBy('d.eventSeq')
    .limit(BATCH)
    .execute();
}

type PendingRow = Awaited<ReturnType<typeof pendingDeliveries>>[number];

/** The receiver's answer as the metrics label it: its class, or `none` when there was no answer. */
function statusClass(status: number | null): '2xx' | '3xx' | '4xx' | '5xx' | 'none' {
  if (status === null) return 'none';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  return status < 500 ? '4xx' : '5xx';
}

/** A pending row whose event is still in the outbox (retention keeps it; a `null` seq means it went). */
const isEventRow = (row: PendingRow): row is PendingRow & StreamRow => row.seq != null;

/**
 * Delivers webhooks from the outbox, durably, in order per endpoint, at least once.
 *
 * 1. Queueing: under an advisory lock (one process at a time), every enabled endpoint whose cursor
 *    (`last_seq`) is behind the newest published event gets a PENDING row for each event after it
 *    whose type it wants, and its cursor moves to that newest id, in one statement. Published ids
 *    are a gap-free prefix (the relay numbers them under its own lock), so nothing is skipped.
 * 2. Sending: a process leases an endpoint whose first PENDING row is due (`leased_until`, renewed
 *    every second between attempts, so a process that died loses it after WEBHOOK_TIMEOUT_MS + 30 s) and
 *    sends its PENDING rows one at a time in event order. A failed attempt schedules the next one
 *    (WEBHOOK_RETRY_BASE_MS, doubling, at most an hour apart) and stops the endpoint's queue until
 *    then; past WEBHOOK_RETRY_FOR_SECONDS from its first attempt the row is FAILED and the queue
 *    moves on. A success recorded after a crash is sent again, with the same `webhook-id`.
 * Runs when poked (after the relay publishes, after an admin change) and on a short poll, so work
 * another process published, or left behind when it stopped, is picked up.
 */
export function createWebhookDispatcher(deps: { orm: Orm; logger: Logger; settings: Config['webhooks']; metrics?: Metrics; pollMs?: number; concurrency?: number }) {
  const { orm, logger, settings } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const owner = randomUUID();
  const concurrency = deps.concurrency ?? 8;
  const leaseSeconds = settings.timeoutMs / 1000 + 30;
  const sender = createSender({ allowPrivate: settings.allowPrivate });
  const stopping = new AbortController();
  const running = new Map<string, Promise<void>>();
  const wakeTimers = new Set<NodeJS.Timeout>();
  let poll: NodeJS.Timeout | undefined;
  let scheduled: NodeJS.Timeout | undefined;
  let lastTick = 0;
  let ticking = false;
  let again = false;
  let started = false;
  let stopped = false;

  /** Queues the deliveries of newly published events; returns how many. */
  async function enqueue(): Promise<number> {
    return orm.em.fork().transactional(async (em) => {
      // Raw: an advisory lock is a function call on no table, nothing for a query builder to type.
      const [lock] = await em.execute<{ locked: boolean }[]>('select pg_try_advisory_xact_lock(?) as locked', [ENQUEUE_LOCK]);
      if (!lock?.locked) return 0;
      // One statement: the endpoints behind the newest event (locked), their deliveries, their cursors moved.
      const row = await db(em)
        .with('top', (q) => q.selectFrom('outbox_event').select(sql<number>`coalesce(max(seq), 0)`.as('t')))
        .with('eps', (q) =>
          q
            .selectFrom(['webhook_endpoint as e', 'top'])
            .select(['e.id', 'e.lastSeq', 'e.eventTypes'])
            .where('e.enabled', '=', true)
            .whereRef('e.lastSeq', '<', 'top.t')
            .forUpdate('e'),
        )
        .with('queued', (q) =>
          q
            .insertInto('webhook_delivery')
            .columns(['id', 'endpoint', 'eventSeq', 'eventType', 'status', 'attempts', 'nextAttemptAt', 'createdAt'])
            .expression((eb) =>
              eb
                .selectFrom('eps')
                .innerJoin('outbox_event as o', (join) =>
                  join
                    .onRef('o.seq', '>', 'eps.lastSeq')
                    .on('o.seq', '<=', (sub) => sub.selectFrom('top').select('top.t'))
                    .on((on) => on('o.type', '=', on.fn.any('eps.eventTypes'))),
                )
                .select([
                  sql<string>`gen_random_uuid()`.as('id'),
                  'eps.id as endpoint',
                  'o.seq',
                  'o.type',
                  sql.lit('PENDING').as('status'),
                  sql.lit(0).as('attempts'),
                  dbNow.as('nextAttemptAt'),
                  dbNow.as('createdAt'),
                ]),
            )
            .onConflict((oc) => oc.doNothing())
            .returning(sql<number>`1`.as('one')),
        )
        .with('moved', (q) =>
          q
            .updateTable('webhook_endpoint')
            .from(['eps', 'top'])
            .set((eb) => ({ lastSeq: eb.ref('top.t') }))
            .whereRef('webhook_endpoint.id', '=', 'eps.id')
            .returning(sql<number>`1`.as('one')),
        )
        .selectNoFrom((eb) => [eb.selectFrom('queued').select(countInt.as('n')).as('queued'), eb.selectFrom('moved').select(countInt.as('n')).as('moved')])
        .executeTakeFirst();
      return row?.queued ?? 0;
    });
  }

  /** Leases up to `count` endpoints whose first pending delivery is due and that nobody holds. */
  async function lease(count: number): Promise<string[]> {
    const rows = await db(orm.em.fork())
      .updateTable('webhook_endpoint')
      .set({ leaseOwner: owner, leasedUntil: plusSeconds(dbNow, leaseSeconds) })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('webhook_endpoint as c')
          .select('c.id')
          .where('c.enabled', '=', true)
          .where((w) => w.or([w('c.leasedUntil', 'is', null), w('c.leasedUntil', '<', dbNow)]))
          .where((w) => w.not(w('c.id', '=', w.fn.any(sql<string[]>`${[...running.keys()]}::uuid[]`))))
          .where(
            (w) =>
              w
                .selectFrom('webhook_delivery as d')
                .select('d.nextAttemptAt')
                .whereRef('d.endpoint', '=', 'c.id')
                .where('d.status', '=', 'PENDING')
                .orderBy('d.eventSeq')
                .limit(1),
            '<=',
            dbNow,
          )
          .limit(count)
          // Processes leasing at once take different endpoints rather than wait for each other.
          .forUpdate()
          .skipLocked(),
      )
      .returning('id')
      .execute();
    return rows.map((row) => row.id);
  }

  /** Renews the lease before an attempt; the endpoint as it is now, or undefined when it was lost or deleted. */
  async function renew(id: string): Promise<{ url: string; secret: string; enabled: boolean } | undefined> {
    return db(orm.em.fork())
      .updateTable('webhook_endpoint')
      .set({ leasedUntil: plusSeconds(dbNow, leaseSeconds) })
      .where('id', '=', id)
      .where('leaseOwner', '=', owner)
      .returning(['url', 'secret', 'enabled'])
      .executeTakeFirst();
  }

  async function release(id: string): Promise<void> {
    await db(orm.em.fork()).updateTable('webhook_endpoint').set({ leaseOwner: null, leasedUntil: null }).where('id', '=', id).where('leaseOwner', '=', owner).execute();
  }

  /** Seconds until the next attempt after `attempts` failed ones: the base, doubling, at most an hour. */
  const delaySeconds = (attempts: number) => Math.min(settings.retryBaseMs * 2 ** (attempts - 1), MAX_DELAY_MS) / 1000;

  /**
   * Records attempt number `attempts`; returns the delivery's status after it and, while PENDING,
   * the wait until the next attempt. Past the retry period (from the round's first attempt) a
   * failure is final.
   */
  async function record(id: string, result: AttemptResult, attemptedAt: Date, attempts: number): Promise<{ status: string; waitMs: number }> {
    const delay = result.ok ? 0 : delaySeconds(attempts);
    const row = await db(orm.em.fork())
      .updateTable('webhook_delivery')
      .set((eb) => {
        const roundStart = eb.fn.coalesce('firstAttemptAt', eb.val(attemptedAt));
        return {
          attempts: eb('attempts', '+', 1),
          firstAttemptAt: roundStart,
          lastAttemptAt: attemptedAt,
          lastStatus: result.status,
          lastError: result.error,
          lastResponse: result.response,
          status: result.ok
            ? 'DELIVERED'
            : eb.case().when(plusSeconds(dbNow, delay), '>', plusSeconds(roundStart, settings.retryForSeconds)).then('FAILED' as const).else('PENDING' as const).end(),
          deliveredAt: result.ok ? dbNow : null,
          nextAttemptAt: result.ok ? null : plusSeconds(dbNow, delay),
        };
      })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .returning((eb) => ['status', sql<number | null>`(extract(epoch from (${eb.ref('nextAttemptAt')} - ${dbNow})) * 1000)::float8`.as('waitMs')])
      .executeTakeFirst();
    return { status: row?.status ?? 'GONE', waitMs: row?.waitMs ?? 0 };
  }

  /** A delivery whose event was pruned can never succeed: it fails at once (redelivery then says EVENTS_EXPIRED). */
  async function expire(id: string): Promise<void> {
    await db(orm.em.fork())
      .updateTable('webhook_delivery')
      .set({ status: 'FAILED', nextAttemptAt: null, lastError: 'EVENTS_EXPIRED: the event was pruned before it could be delivered' })
      .where('id', '=', id)
      .where('status', '=', 'PENDING')
      .execute();
  }

  function wakeIn(ms: number): void {
    const timer = setTimeout(() => {
      wakeTimers.delete(timer);
      poke();
    }, Math.max(0, Math.ceil(ms)) + 5);
    timer.unref();
    wakeTimers.add(timer);
  }

  async function attempt(row: PendingRow & StreamRow, endpoint: { url: string; secret: string }): Promise<AttemptResult> {
    const event = toPublicEvent(toStreamEvent(row));
    const message: WebhookMessage = { type: event.type, timestamp: event.at, data: event };
    const body = JSON.stringify(message);
    const msgId = webhookId(row.deliveryId);
    const now = new Date();
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(endpoint.secret).sign(msgId, now, body),
    };
    return sender.send(endpoint.url, body, headers, { timeoutMs: settings.timeoutMs, signal: stopping.signal });
  }

  /**
   * Sends one endpoint's pending deliveries in order until none is left or one has to wait. The
   * lease is renewed (and the endpoint read again: URL, secret, enabled) at most every
   * RENEW_EVERY_MS, so a change by an admin applies within about a second.
   */
  async function run(id: string): Promise<void> {
    let endpoint: Awaited<ReturnType<typeof renew>>;
    let renewedAt = 0;
    for (;;) {
      const rows = await pendingDeliveries(orm, id);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (stopping.signal.aborted) return;
        if (!row.due) return wakeIn(row.waitMs);
        if (Date.now() - renewedAt >= RENEW_EVERY_MS) {
          endpoint = await renew(id);
          renewedAt = Date.now();
        }
        if (!endpoint?.enabled) return;
        if (!isEventRow(row)) {
          await expire(row.deliveryId);
          continue;
        }
        const attemptedAt = new Date();
        const result = await attempt(row, endpoint);
        if (result.aborted) return;
        const outcome = await record(row.deliveryId, result, attemptedAt, row.attempts + 1);
        // Each recorded attempt: delivered, failed (retried later), or failed for good (gave up).
        const counted = outcome.status === 'DELIVERED' ? 'delivered' : outcome.status === 'PENDING' ? 'failed' : outcome.status === 'FAILED' ? 'gave-up' : undefined;
        if (counted) metrics.webhookDelivery(counted, statusClass(result.status));
        if (outcome.status === 'PENDING') return wakeIn(outcome.waitMs);
      }
    }
  }

  function startRun(id: string): void {
    const done = run(id)
      .catch((error: unknown) => logger.warn({ err: error, endpointId: id }, 'webhook delivery failed; will retry'))
      .finally(async () => {
        running.delete(id);
        await release(id).catch(() => undefined);
        if (!stopped) poke();
      });
    running.set(id, done);
  }

  async function tick(): Promise<void> {
    if (ticking) {
      again = true;
      return;
    }
    ticking = true;
    try {
      do {
        again = false;
        if (stopped) return;
        await enqueue();
        const free = concurrency - running.size;
        if (free > 0) for (const id of await lease(free)) startRun(id);
      } while (again && !stopped);
    } catch (error) {
      logger.warn({ err: error }, 'webhook dispatcher could not run; will retry');
    } finally {
      ticking = false;
      lastTick = Date.now();
    }
  }

  /** Runs a pass soon: at once, or MIN_GAP_MS after the last one ended. */
  function poke(): void {
    if (!started || stopped || scheduled) return;
    scheduled = setTimeout(
      () => {
        scheduled = undefined;
        void tick();
      },
      Math.max(0, lastTick + MIN_GAP_MS - Date.now()),
    );
    scheduled.unref();
  }

  return {
    poke,
    start(): void {
      started = true;
      poll = setInterval(poke, deps.pollMs ?? 1000);
      poll.unref();
      poke();
    },
    /** Stops taking work, cuts attempts in flight off (not counted: they are sent again) and gives the leases back. */
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(poll);
      clearTimeout(scheduled);
      for (const timer of wakeTimers) clearTimeout(timer);
      stopping.abort();
      while (ticking) await new Promise((resolve) => setTimeout(resolve, 10));
      await Promise.allSettled(running.values());
      sender.close();
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;
