import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type PgBoss from 'pg-boss';
import { sql, type AliasableExpression, type NotNull, type QueryCreator } from 'kysely';
import type { DropView, NotificationChannel, NotificationKind, ReservationView } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { db, type Database } from '../../db/kysely.ts';

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
 * Hand-written on purpose: this is pg-boss's own SQL (its job tables, its statements) passed
 * through, not a query of ours, so there is nothing for the typed builder to say.
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

/** One candidate: a kind of notification about a drop for a user, with what it says beyond the drop. */
export interface Candidate {
  userId: string;
  dropId: string;
  kind: NotificationKind;
  detail: Record<string, unknown> | null;
}

/** Candidates as a query of rows (userId, dropId, kind, detail), composed into `insertNotifications`. */
export type CandidateSource = (q: QueryCreator<Database>) => AliasableExpression<Candidate>;

const kindText = (kind: NotificationKind) => sql<NotificationKind>`${kind}::text`;
const jsonb = (value: Record<string, unknown> | null) => sql<Record<string, unknown> | null>`${value === null ? null : JSON.stringify(value)}::jsonb`;

/** Listed candidates (one event each). */
export function listed(rows: Candidate[]): CandidateSource {
  const json = JSON.stringify(rows.map(({ userId, dropId, kind, detail }) => ({ userId, dropId, kind, detail })));
  return (q) => q.selectFrom(sql<Candidate>`jsonb_to_recordset(${json}::jsonb)`.as<'l'>(sql`l("userId" uuid, "dropId" uuid, kind text, detail jsonb)`)).selectAll();
}

/** Everyone on a drop's waitlist right now (with `exceptDraw`: only while the drop is active and not a DRAW). */
export function waitlisted(dropId: string, kind: NotificationKind, detail: Record<string, unknown> | null, options: { exceptDraw?: boolean } = {}): CandidateSource {
  return (q) =>
    q
      .selectFrom('waitlist as w')
      .innerJoin('drop as d', 'd.id', 'w.drop')
      .select(['w.user as userId', 'w.drop as dropId', kindText(kind).as('kind'), jsonb(detail).as('detail')])
      .where('w.drop', '=', dropId)
      .$if(options.exceptDraw === true, (qb) => qb.where((eb) => eb.and([eb.ref('d.isActive'), eb('d.allocationMode', '<>', 'DRAW')])));
}

/** Everyone in a DRAW drop's frozen ranking: whether they won (a rank within the slots), and their rank. */
function drawResults(dropId: string): CandidateSource {
  return (q) =>
    q
      .selectFrom('reservation as r')
      .innerJoin('drop as d', 'd.id', 'r.drop')
      .select((eb) => [
        'r.user as userId',
        'r.drop as dropId',
        kindText('draw-result').as('kind'),
        sql<Record<string, unknown>>`jsonb_build_object('won', ${eb('r.rank', '<=', eb.ref('d.totalSlots'))}, 'rank', ${eb.ref('r.rank')})`.as('detail'),
      ])
      .where('r.drop', '=', dropId)
      .where('d.allocationMode', '=', 'DRAW');
}

/** A granted hold, unless it is a DRAW winner's first (told by the draw result). */
function granted(dropId: string, userId: string, expiresAt: string | null): CandidateSource {
  return (q) =>
    q
      .selectFrom('reservation as r')
      .innerJoin('drop as d', 'd.id', 'r.drop')
      .select([
        'r.user as userId',
        'r.drop as dropId',
        kindText('reservation-granted').as('kind'),
        sql<Record<string, unknown>>`jsonb_build_object('expiresAt', ${expiresAt}::text)`.as('detail'),
      ])
      .where('r.drop', '=', dropId)
      .where('r.user', '=', userId)
      .where((eb) => eb.not(eb.and([eb('d.allocationMode', '=', 'DRAW'), eb('r.rank', '<=', eb.ref('d.totalSlots'))])));
}

/**
 * Turns candidates into notifications, one per channel the user wants (no preference row: on;
 * email only to a confirmed address, push only with a subscribed device), and queues one send
 * job for each new one, in the caller's transaction. The unique (user, drop, kind, channel) key
 * keeps every notification to one: a candidate seen again adds nothing, except that one skipped
 * as stale (a window that moved) is armed again.
 */
export async function insertNotifications(em: EntityManager, boss: PgBoss, source: CandidateSource, sendOptions: PgBoss.JobInsert): Promise<number> {
  const rows = await db(em)
    .with('c', (cte) => cte.selectFrom(source(cte).as('s')).distinctOn(['s.userId', 's.dropId', 's.kind']).selectAll())
    .insertInto('notification')
    .columns(['id', 'user', 'drop', 'kind', 'channel', 'state', 'detail', 'deliveredTo', 'createdAt'])
    .expression((eb) =>
      eb
        .selectFrom('c')
        .innerJoin('user as u', 'u.id', 'c.userId')
        // The two channels as rows: each candidate is one notification per channel.
        .crossJoin(sql<{ channel: NotificationChannel }>`(values ('email'), ('push'))`.as<'ch'>(sql`ch(channel)`))
        .leftJoin('notification_preference as p', (join) => join.onRef('p.user', '=', 'c.userId').onRef('p.kind', '=', 'c.kind').onRef('p.channel', '=', 'ch.channel'))
        .select([
          sql<string>`gen_random_uuid()`.as('id'),
          'c.userId',
          'c.dropId',
          'c.kind',
          'ch.channel',
          sql.lit('PENDING').as('state'),
          'c.detail',
          sql.lit('[]').as('deliveredTo'),
          sql<Date>`now()`.as('createdAt'),
        ])
        .where((eb) =>
          eb.and([
            eb.fn.coalesce('p.enabled', sql<boolean>`true`),
            eb
              .case('ch.channel')
              .when('email')
              .then(eb('u.emailVerifiedAt', 'is not', null))
              .else(eb.exists(eb.selectFrom('push_subscription as ps').select(sql.lit(1).as('one')).whereRef('ps.user', '=', 'c.userId')))
              .end(),
          ]),
        ),
    )
    .onConflict((conflict) =>
      conflict
        .columns(['user', 'drop', 'kind', 'channel'])
        .doUpdateSet((eb) => ({ state: 'PENDING', detail: eb.ref('excluded.detail'), reason: null, deliveredTo: sql<string[]>`'[]'` }))
        .where('notification.state', '=', 'SKIPPED')
        .where('notification.reason', '=', 'stale'),
    )
    .returning('id')
    .execute();
  if (rows.length === 0) return 0;
  const jobs = rows.map((row) => ({ ...sendOptions, name: SEND_QUEUE, data: { id: row.id } satisfies SendJob }));
  for (let i = 0; i < jobs.length; i += 1000) await boss.insert(jobs.slice(i, i + 1000), { db: inTransaction(em) });
  return rows.length;
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
    const q = db(em);
    const cursor = await q.selectFrom('notification_cursor').select('lastSeq').where('id', '=', 1).forUpdate().skipLocked().executeTakeFirst();
    if (!cursor) return -1;
    const events = await q
      .selectFrom('outbox_event')
      .select(['seq', 'type', 'dropId', 'userId', 'payload'])
      .where('seq', '>', cursor.lastSeq)
      .orderBy('seq')
      .limit(batch)
      .$narrowType<{ seq: NotNull }>()
      .execute();
    if (events.length === 0) return 0;
    const direct: Candidate[] = [];
    const triggers: PgBoss.JobInsert[] = [];
    const options = deps.sendOptions();
    for (const event of events) {
      const dropId = event.dropId;
      if (!dropId) continue;
      const drop = event.payload.drop as DropView | undefined;
      if (WINDOW_CHANGES.has(event.type) && drop) {
        const trigger = opensSoonTrigger(drop);
        if (trigger) triggers.push(trigger);
      }
      if (event.type === 'window.opened') {
        // A DRAW drop's opening is told by each person's draw result instead.
        await insertNotifications(em, boss, waitlisted(dropId, 'window-opened', null, { exceptDraw: true }), options);
      } else if (event.type === 'ranking.frozen') {
        await insertNotifications(em, boss, drawResults(dropId), options);
      } else if (event.userId && event.type === 'claim.issued') {
        const claim = event.payload.claim as { id: string };
        direct.push({ userId: event.userId, dropId, kind: 'claim-confirmed', detail: { claimId: claim.id } });
      } else if (event.userId && (event.type === 'reservation.granted' || event.type === 'reservation.extended')) {
        const view = event.payload.reservation as ReservationView;
        if (event.type === 'reservation.granted') {
          // On a DRAW drop the first holders learn it from their draw result ("you won, claim before …").
          await insertNotifications(em, boss, granted(dropId, event.userId, view.expiresAt), options);
        }
        const trigger = expiringTrigger(dropId, event.userId, view);
        if (trigger) triggers.push(trigger);
      }
    }
    if (direct.length > 0) await insertNotifications(em, boss, listed(direct), options);
    if (triggers.length > 0) await boss.insert(triggers, { db: inTransaction(em) });
    await q.updateTable('notification_cursor').set({ lastSeq: events.at(-1)!.seq }).where('id', '=', 1).execute();
    return events.length;
  }

  /** With notifications turned off, the cursor still follows the stream, so turning them on later sends nothing old. */
  async function skipAll(em: EntityManager): Promise<void> {
    await db(em)
      .updateTable('notification_cursor')
      .set((eb) => ({
        lastSeq: eb.fn<number>('greatest', ['lastSeq', eb.selectFrom('outbox_event').select((sub) => sub.fn.coalesce(sub.fn.max('seq'), sql.lit(0)).as('seq'))]),
      }))
      .where('id', '=', 1)
      .execute();
  }

  return { planBatch, skipAll, opensSoonTrigger, expiringTrigger };
}

export type Planner = ReturnType<typeof createPlanner>;
