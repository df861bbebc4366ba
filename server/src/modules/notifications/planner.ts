import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type PgBoss from 'pg-boss';
import type { DropView, NotificationKind, ReservationView } from '@dropspot/protocol';
import type { Config } from '../../config.ts';

export const SEND_QUEUE = 'notify-send';
export const PLAN_QUEUE = 'notify-plan';

/** A timed notification's trigger: at its instant it reads the live drop or hold and plans (or moves) itself. */
export type PlanJob = { kind: 'window-opens-soon'; dropId: string; start: string } | { kind: 'reservation-expiring'; dropId: string; userId: string; expiresAt: string };
export interface SendJob {
  id: string;
}

/** A uuid-shaped job id from a key: the same trigger enqueued twice is one job. */
export function jobId(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * pg-boss writing through the caller's transaction: jobs commit (or roll back) with the rows that
 * need them. Its SQL numbers its parameters ($1…); the entity manager binds them in order (?).
 */
export function inTransaction(em: EntityManager): PgBoss.Db {
  return {
    executeSql: async (text, values) => {
      const order: unknown[] = [];
      const sql = text.replace(/\$(\d+)/g, (_, n: string) => (order.push(values[Number(n) - 1] ?? null), '?'));
      return { rows: await em.execute(sql, order) };
    },
  };
}

/** Candidates: rows of (user_id, drop_id, kind, detail), as SQL. */
export interface CandidateSource {
  sql: string;
  params: unknown[];
}

/** Listed candidates (one event each). */
export function listed(rows: { userId: string; dropId: string; kind: NotificationKind; detail: Record<string, unknown> | null }[]): CandidateSource {
  return {
    sql: `select user_id, drop_id, kind, detail from jsonb_to_recordset(?::jsonb) as c(user_id uuid, drop_id uuid, kind text, detail jsonb)`,
    params: [JSON.stringify(rows.map((r) => ({ user_id: r.userId, drop_id: r.dropId, kind: r.kind, detail: r.detail })))],
  };
}

/** Everyone on a drop's waitlist right now. */
export function waitlisted(dropId: string, kind: NotificationKind, detail: Record<string, unknown> | null, where = 'true'): CandidateSource {
  return {
    sql: `select w.user_id, w.drop_id, ?::text as kind, ?::jsonb as detail from "waitlist" w join "drop" d on d.id = w.drop_id where w.drop_id = ? and ${where}`,
    params: [kind, detail === null ? null : JSON.stringify(detail), dropId],
  };
}

/**
 * Turns candidates into notifications, one per channel the user wants (no preference row: on;
 * email only to a confirmed address, push only with a subscribed device), and queues one send
 * job for each new one, in the caller's transaction. The unique (user, drop, kind, channel) key
 * keeps every notification to one: a candidate seen again adds nothing, except that one skipped
 * as stale (a window that moved) is armed again.
 */
export async function insertNotifications(em: EntityManager, boss: PgBoss, source: CandidateSource, sendOptions: PgBoss.JobInsert): Promise<number> {
  const rows = await em.execute<{ id: string }[]>(
    `with c as (select distinct on (user_id, drop_id, kind) * from (${source.sql}) s)
     insert into "notification" (id, user_id, drop_id, kind, channel, state, detail, delivered_to, created_at)
     select gen_random_uuid(), c.user_id, c.drop_id, c.kind, ch.channel, 'PENDING', c.detail, '[]', now()
       from c join "user" u on u.id = c.user_id
       cross join (values ('email'), ('push')) as ch(channel)
       left join "notification_preference" p on p.user_id = c.user_id and p.kind = c.kind and p.channel = ch.channel
      where coalesce(p.enabled, true)
        and case ch.channel when 'email' then u.email_verified_at is not null
                            else exists (select 1 from "push_subscription" s where s.user_id = c.user_id) end
     on conflict (user_id, drop_id, kind, channel) do update set state = 'PENDING', detail = excluded.detail, reason = null, delivered_to = '[]'
       where "notification".state = 'SKIPPED' and "notification".reason = 'stale'
     returning id`,
    source.params,
  );
  if (rows.length === 0) return 0;
  const jobs = rows.map((row) => ({ ...sendOptions, name: SEND_QUEUE, data: { id: row.id } satisfies SendJob }));
  for (let i = 0; i < jobs.length; i += 1000) await boss.insert(jobs.slice(i, i + 1000), { db: inTransaction(em) });
  return rows.length;
}

interface OutboxRow {
  seq: string;
  type: string;
  drop_id: string | null;
  user_id: string | null;
  payload: Record<string, unknown>;
}

const WINDOW_CHANGES = new Set(['drop.created', 'drop.updated', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed']);

/**
 * What published events cause, decided in one transaction with the cursor's advance: the
 * notifications (and their send jobs) for events that concern people at once, and the triggers
 * of the timed kinds. Each event is read once, whichever process reads it.
 */
export function createPlanner(deps: { config: Readonly<Config>; boss: PgBoss; sendOptions: () => PgBoss.JobInsert }) {
  const { config, boss } = deps;
  const leadMs = config.notifications.opensSoonLeadSeconds * 1000;
  const holdLeadMs = config.notifications.holdExpiryLeadSeconds * 1000;

  /** The "opens soon" trigger of a drop's window start (one per start: a moved window gets a new one, the old finds it stale). */
  function opensSoonTrigger(drop: Pick<DropView, 'id' | 'isActive' | 'claimWindowStart'>): PgBoss.JobInsert | undefined {
    const start = Date.parse(drop.claimWindowStart);
    if (!drop.isActive || !(start > Date.now())) return undefined;
    return {
      name: PLAN_QUEUE,
      id: jobId(`opens-soon|${drop.id}|${new Date(start).toISOString()}`),
      data: { kind: 'window-opens-soon', dropId: drop.id, start: new Date(start).toISOString() } satisfies PlanJob,
      startAfter: new Date(Math.max(Date.now(), start - leadMs)).toISOString(),
      retryLimit: 10,
      retryDelay: 1,
      retryBackoff: true,
    };
  }

  /** The "about to expire" trigger of a hold, unless the hold is no longer than the lead (its grant said the deadline). */
  function expiringTrigger(dropId: string, userId: string, view: Pick<ReservationView, 'grantedAt' | 'expiresAt' | 'status'>): PgBoss.JobInsert | undefined {
    if (view.status !== 'GRANTED' || !view.expiresAt || !view.grantedAt) return undefined;
    const due = Date.parse(view.expiresAt) - holdLeadMs;
    if (!(due > Date.parse(view.grantedAt))) return undefined;
    return {
      name: PLAN_QUEUE,
      id: jobId(`expiring|${dropId}|${userId}|${view.expiresAt}`),
      data: { kind: 'reservation-expiring', dropId, userId, expiresAt: view.expiresAt } satisfies PlanJob,
      startAfter: new Date(Math.max(Date.now(), due)).toISOString(),
      retryLimit: 10,
      retryDelay: 1,
      retryBackoff: true,
    };
  }

  /** Plans one batch of published events; -1 when another process holds the cursor right now. */
  async function planBatch(em: EntityManager, batch: number): Promise<number> {
    const [cursor] = await em.execute<{ last_seq: string }[]>(`select last_seq from "notification_cursor" where id = 1 for update skip locked`);
    if (!cursor) return -1;
    const events = await em.execute<OutboxRow[]>(
      `select seq, type, drop_id, user_id, payload from "outbox_event" where seq > ? order by seq limit ?`,
      [cursor.last_seq, batch],
    );
    if (events.length === 0) return 0;
    const direct: Parameters<typeof listed>[0] = [];
    const triggers: PgBoss.JobInsert[] = [];
    const options = deps.sendOptions();
    for (const event of events) {
      const dropId = event.drop_id;
      if (!dropId) continue;
      const drop = event.payload.drop as DropView | undefined;
      if (WINDOW_CHANGES.has(event.type) && drop) {
        const trigger = opensSoonTrigger(drop);
        if (trigger) triggers.push(trigger);
      }
      if (event.type === 'window.opened') {
        // A DRAW drop's opening is told by each person's draw result instead.
        await insertNotifications(em, boss, waitlisted(dropId, 'window-opened', null, `d.is_active and d.allocation_mode <> 'DRAW'`), options);
      } else if (event.type === 'ranking.frozen') {
        await insertNotifications(
          em,
          boss,
          {
            sql: `select r.user_id, r.drop_id, 'draw-result'::text as kind,
                         jsonb_build_object('won', r.rank <= d.total_slots, 'rank', r.rank) as detail
                    from "reservation" r join "drop" d on d.id = r.drop_id where r.drop_id = ? and d.allocation_mode = 'DRAW'`,
            params: [dropId],
          },
          options,
        );
      } else if (event.user_id && event.type === 'claim.issued') {
        const claim = event.payload.claim as { id: string };
        direct.push({ userId: event.user_id, dropId, kind: 'claim-confirmed', detail: { claimId: claim.id } });
      } else if (event.user_id && (event.type === 'reservation.granted' || event.type === 'reservation.extended')) {
        const view = event.payload.reservation as ReservationView;
        if (event.type === 'reservation.granted') {
          // On a DRAW drop the first holders learn it from their draw result ("you won, claim before …").
          await insertNotifications(
            em,
            boss,
            {
              sql: `select r.user_id, r.drop_id, 'reservation-granted'::text as kind, jsonb_build_object('expiresAt', ?::text) as detail
                      from "reservation" r join "drop" d on d.id = r.drop_id
                     where r.drop_id = ? and r.user_id = ? and not (d.allocation_mode = 'DRAW' and r.rank <= d.total_slots)`,
              params: [view.expiresAt, dropId, event.user_id],
            },
            options,
          );
        }
        const trigger = expiringTrigger(dropId, event.user_id, view);
        if (trigger) triggers.push(trigger);
      }
    }
    if (direct.length > 0) await insertNotifications(em, boss, listed(direct), options);
    if (triggers.length > 0) await boss.insert(triggers, { db: inTransaction(em) });
    await em.execute(`update "notification_cursor" set last_seq = ? where id = 1`, [events.at(-1)!.seq]);
    return events.length;
  }

  /** With notifications turned off, the cursor still follows the stream, so turning them on later sends nothing old. */
  async function skipAll(em: EntityManager): Promise<void> {
    await em.execute(`update "notification_cursor" set last_seq = greatest(last_seq, (select coalesce(max(seq), 0) from "outbox_event")) where id = 1`);
  }

  return { planBatch, skipAll, opensSoonTrigger, expiringTrigger };
}

export type Planner = ReturnType<typeof createPlanner>;
