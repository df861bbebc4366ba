import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { WebhookMessage } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
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

interface PendingRow extends Partial<StreamRow> {
  id: string;
  event_seq: string | number;
  attempts: number;
  due: boolean;
  wait_ms: number | null;
}

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
      const [lock] = await em.execute<{ locked: boolean }[]>('select pg_try_advisory_xact_lock(?) as locked', [ENQUEUE_LOCK]);
      if (!lock?.locked) return 0;
      const [row] = await em.execute<{ queued: string }[]>(
        `with top as (select coalesce(max(seq), 0) as t from "outbox_event"),
              eps as (select e.id, e.last_seq, e.event_types from "webhook_endpoint" e, top
                       where e.enabled and e.last_seq < top.t for update of e),
              queued as (insert into "webhook_delivery" (id, endpoint_id, event_seq, event_type, status, attempts, next_attempt_at, created_at)
                         select gen_random_uuid(), eps.id, o.seq, o.type, 'PENDING', 0, now(), now()
                           from eps join "outbox_event" o on o.seq > eps.last_seq and o.seq <= (select t from top) and o.type = any(eps.event_types)
                         on conflict do nothing returning 1),
              moved as (update "webhook_endpoint" e set last_seq = top.t from eps, top where e.id = eps.id returning 1)
         select (select count(*) from queued) as queued, (select count(*) from moved) as moved`,
      );
      return Number(row?.queued ?? 0);
    });
  }

  /** Leases up to `count` endpoints whose first pending delivery is due and that nobody holds. */
  async function lease(count: number): Promise<string[]> {
    const rows = await orm.em.fork().execute<{ id: string }[]>(
      `update "webhook_endpoint" e set lease_owner = ?, leased_until = now() + make_interval(secs => ?)
        where e.id in (
          select c.id from "webhook_endpoint" c
           where c.enabled and (c.leased_until is null or c.leased_until < now()) and not (c.id = any(?::uuid[]))
             and (select d.next_attempt_at from "webhook_delivery" d
                   where d.endpoint_id = c.id and d.status = 'PENDING' order by d.event_seq limit 1) <= now()
           limit ? for update skip locked)
        returning e.id`,
      [owner, leaseSeconds, `{${[...running.keys()].join(',')}}`, count],
    );
    return rows.map((row) => row.id);
  }

  /** Renews the lease before an attempt; the endpoint as it is now, or undefined when it was lost or deleted. */
  async function renew(id: string): Promise<{ url: string; secret: string; enabled: boolean } | undefined> {
    const [row] = await orm.em.fork().execute<{ url: string; secret: string; enabled: boolean }[]>(
      `update "webhook_endpoint" set leased_until = now() + make_interval(secs => ?) where id = ? and lease_owner = ? returning url, secret, enabled`,
      [leaseSeconds, id, owner],
    );
    return row;
  }

  async function release(id: string): Promise<void> {
    await orm.em.fork().execute(`update "webhook_endpoint" set lease_owner = null, leased_until = null where id = ? and lease_owner = ?`, [id, owner]);
  }

  async function pending(id: string): Promise<PendingRow[]> {
    // The outbox columns are named as StreamRow names them; a raw row's instant arrives as text.
    const rows = await orm.em.fork().execute<(Omit<PendingRow, 'createdAt'> & { createdAt?: string | null })[]>(
      `select d.id, d.event_seq, d.attempts, d.next_attempt_at <= now() as due,
              greatest(0, extract(epoch from (d.next_attempt_at - now())) * 1000)::float8 as wait_ms,
              o.seq, o.type, o.drop_id as "dropId", o.user_id as "userId", o.payload, o.created_at as "createdAt"
         from "webhook_delivery" d left join "outbox_event" o on o.seq = d.event_seq
        where d.endpoint_id = ? and d.status = 'PENDING' order by d.event_seq limit ?`,
      [id, BATCH],
    );
    return rows.map((row) => ({ ...row, createdAt: row.createdAt == null ? undefined : new Date(row.createdAt) }));
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
    const [row] = await orm.em.fork().execute<{ status: string; wait_ms: number | null }[]>(
      `update "webhook_delivery" set
          attempts = attempts + 1,
          first_attempt_at = coalesce(first_attempt_at, ?),
          last_attempt_at = ?,
          last_status = ?, last_error = ?, last_response = ?,
          status = case when ? then 'DELIVERED'
                        when now() + make_interval(secs => ?) > coalesce(first_attempt_at, ?) + make_interval(secs => ?) then 'FAILED'
                        else 'PENDING' end,
          delivered_at = case when ? then now() end,
          next_attempt_at = case when ? then null else now() + make_interval(secs => ?) end
        where id = ? and status = 'PENDING'
        returning status, extract(epoch from (next_attempt_at - now())) * 1000 as wait_ms`,
      [attemptedAt, attemptedAt, result.status, result.error, result.response, result.ok, delay, attemptedAt, settings.retryForSeconds, result.ok, result.ok, delay, id],
    );
    return { status: row?.status ?? 'GONE', waitMs: Number(row?.wait_ms ?? 0) };
  }

  /** A delivery whose event was pruned can never succeed: it fails at once (redelivery then says EVENTS_EXPIRED). */
  async function expire(id: string): Promise<void> {
    await orm.em.fork().execute(
      `update "webhook_delivery" set status = 'FAILED', next_attempt_at = null, last_error = 'EVENTS_EXPIRED: the event was pruned before it could be delivered'
        where id = ? and status = 'PENDING'`,
      [id],
    );
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
    const msgId = webhookId(row.id);
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
      const rows = await pending(id);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (stopping.signal.aborted) return;
        if (!row.due) return wakeIn(row.wait_ms ?? 0);
        if (Date.now() - renewedAt >= RENEW_EVERY_MS) {
          endpoint = await renew(id);
          renewedAt = Date.now();
        }
        if (!endpoint?.enabled) return;
        if (!isEventRow(row)) {
          await expire(row.id);
          continue;
        }
        const attemptedAt = new Date();
        const result = await attempt(row, endpoint);
        if (result.aborted) return;
        const outcome = await record(row.id, result, attemptedAt, row.attempts + 1);
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
