import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, LINE_MODES, type LineMode, type PriorityFormulaView, type ReservationView, type ScoreBreakdown } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { DomainError } from '../../domain/errors.ts';
import { lockDropForClaim } from '../claims/drop-state.ts';
import { outboxRow, type EventNotifier } from '../events/outbox.ts';
import { OutboxEventSchema } from '../events/outbox-event.entity.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { ReservationSchema } from './reservation.entity.ts';
import { FEW_USERS, inChunks, iso, lineTotals, toView, type Freed, type LineRow } from './line-rows.ts';
import { anonIdOf, commitmentOf, compareDrawKeys, compareRankable, drawKeyOf, tieBreakOf } from './ranking.ts';
import { createReservationViews } from './reservation.views.ts';

export type ReservationService = ReturnType<typeof createReservationService>;

/** The line modes as an SQL list, for the queries that find drops with a line. */
const LINE_MODES_SQL = LINE_MODES.map((mode) => `'${mode}'`).join(', ');

/**
 * The PRIORITY and DRAW allocations: the frozen line of a drop and its reservations. Every change to the
 * line runs inside a transaction that holds the drop's row lock (the same lock, taken the same
 * way, as a claim batch), so freezing, claiming, expiring, leaving and backfilling serialize on
 * one row and are judged by the database clock (`clock_timestamp()` after the lock). The
 * invariant kept: `claimed + (GRANTED reservations) <= total_slots`, and every expired or
 * released reservation is granted to the next WAITING user at once while the window is open.
 * Timers (each drop room's line clock in realtime/) only call `tick`; nothing here trusts them.
 */
export function createReservationService(deps: { orm: Orm; formula: PriorityFormula; notifier: EventNotifier }) {
  const { orm, formula, notifier } = deps;

  /** Outbox rows written by the line in the current transaction (inserted in one go by `flushEvents`). */
  function record(events: ReturnType<typeof outboxRow>[], type: Parameters<typeof outboxRow>[0]['type'], dropId: string, userId: string | null, payload: Record<string, unknown>) {
    events.push(outboxRow({ type, dropId, userId, payload }));
  }

  async function flushEvents(em: EntityManager, events: ReturnType<typeof outboxRow>[]): Promise<void> {
    await inChunks(events, (part) => em.insertMany(OutboxEventSchema, part));
  }

  /** How each line mode orders the waitlist at the freeze: the key stored in `tie_break`, and the order of the rows. */
  function orderLine<E extends { user_id: string; priority_score: number; joined_at: Date }>(mode: LineMode, secret: string, seed: string, entries: E[]) {
    const keyed = entries.map((e) => {
      const anonId = anonIdOf(secret, e.user_id);
      const key = mode === 'DRAW' ? drawKeyOf(secret, anonId) : tieBreakOf(seed, secret, anonId);
      return { ...e, anonId, priorityScore: e.priority_score, joinedAt: new Date(e.joined_at), tieBreak: key, drawKey: key };
    });
    return keyed.sort(mode === 'DRAW' ? compareDrawKeys : compareRankable);
  }

  /**
   * Freezes the line if the drop is PRIORITY or DRAW, its window has opened and it is not frozen
   * yet: the waitlist in the mode's order (`orderLine`) becomes the ranked reservations. The
   * caller holds the drop's row lock; joins of such a drop take a share lock on the same row and
   * are refused once the window opened, so the waitlist read here is final.
   */
  async function freezeIfDue(em: EntityManager, dropId: string, events: ReturnType<typeof outboxRow>[]): Promise<{ lined: boolean; frozen: boolean }> {
    const [drop] = await em.execute<{ allocation_mode: string; ranking_secret: string | null; priority_formula: PriorityFormulaView | null; due: boolean; now: Date }[]>(
      `select allocation_mode, ranking_secret, priority_formula, clock_timestamp() as now,
              is_active and ranking_frozen_at is null and claim_window_start <= clock_timestamp() as due
         from "drop" where id = ?`,
      [dropId],
    );
    if (!drop || !hasLine(drop.allocation_mode)) return { lined: false, frozen: false };
    if (!drop.due) return { lined: true, frozen: false };
    // Only drops created before PRIORITY existed lack a secret (and switching them draws one): never published, but still unguessable.
    const secret = drop.ranking_secret ?? randomBytes(32).toString('hex');
    const entries = await em.execute<{ user_id: string; priority_score: number; joined_at: Date; score_breakdown: ScoreBreakdown }[]>(
      `select user_id, priority_score, joined_at, score_breakdown from "waitlist" where drop_id = ?`,
      [dropId],
    );
    // The drop's own formula (kept since it was published); only older drops fall back to the live one, which the freeze then keeps.
    const used = drop.priority_formula ?? formula.view;
    const ranked = orderLine(drop.allocation_mode, secret, used.seed, entries);
    const rows = ranked.map((e, i) => ({
      id: randomUUID(),
      drop: dropId,
      user: e.user_id,
      rank: i + 1,
      anonId: e.anonId,
      priorityScore: e.priority_score,
      scoreBreakdown: e.score_breakdown,
      joinedAt: e.joinedAt,
      tieBreak: e.tieBreak,
      status: 'WAITING' as const,
      grantedAt: null,
      expiresAt: null,
      endedAt: null,
    }));
    await inChunks(rows, (part) => em.insertMany(ReservationSchema, part));
    await em.execute(`update "drop" set ranking_frozen_at = clock_timestamp(), ranking_secret = ?, priority_formula = ?::jsonb where id = ?`, [
      secret,
      JSON.stringify(used),
      dropId,
    ]);
    record(events, 'ranking.frozen', dropId, null, { dropId, ranked: ranked.length, commitment: commitmentOf(secret), frozenAt: new Date(drop.now).toISOString() });
    return { lined: true, frozen: true };
  }

  /**
   * Expires the holds that ran out (by the database clock), then grants the next WAITING users in
   * rank order up to the free slots (`total_slots − claimed − open reservations`) while the window
   * is open. Each grant after a freed reservation is recorded as `reservation.passed`.
   */
  async function settleLocked(em: EntityManager, dropId: string, events: ReturnType<typeof outboxRow>[], freed: Freed[], initial = false): Promise<void> {
    // Holds run only while claims are possible. When claims stopped (`stopped`: the pause, the end
    // of the window, or now for a window not open yet or a drop taken down), the holds that had
    // run out before expire and the rest stop running; when claims are possible again, each gets
    // back the time it actually spent stopped (a hold granted later than the stop loses nothing).
    const [state] = await em.execute<{ claimable: boolean; frozen: boolean }[]>(
      `select d.is_active and d.paused_at is null and d.claim_window_start <= clock_timestamp() and clock_timestamp() < d.claim_window_end as claimable,
              d.ranking_frozen_at is not null as frozen
         from "drop" d where d.id = ?`,
      [dropId],
    );
    if (!state?.frozen) return;
    const resumed = state.claimable
      ? await em.execute<{ user_id: string; seconds: number }[]>(
          `update "reservation" r set expires_at = r.expires_at + (clock_timestamp() - stopped.at), suspended_at = null
             from (select id, suspended_at as at from "reservation" where drop_id = ? and status = 'GRANTED' and suspended_at is not null for update) stopped
            where r.id = stopped.id
           returning r.user_id, extract(epoch from clock_timestamp() - stopped.at)::float8 as seconds`,
          [dropId],
        )
      : [];
    const stopped = `least(clock_timestamp(), coalesce(d.paused_at, clock_timestamp()), case when d.is_active then d.claim_window_end else clock_timestamp() end)`;
    const expired = await em.execute<{ user_id: string; rank: number }[]>(
      `update "reservation" r set status = 'EXPIRED', ended_at = clock_timestamp()
         from "drop" d
        where d.id = r.drop_id and r.drop_id = ? and r.status = 'GRANTED' and r.suspended_at is null and r.expires_at <= ${stopped}
        returning r.user_id, r.rank`,
      [dropId],
    );
    if (!state.claimable) {
      await em.execute(
        `update "reservation" r set suspended_at = greatest(${stopped}, r.granted_at)
           from "drop" d where d.id = r.drop_id and r.drop_id = ? and r.status = 'GRANTED' and r.suspended_at is null`,
        [dropId],
      );
    }
    const [slots] = await em.execute<{ free: number }[]>(
      `select d.total_slots - d.claimed - (select count(*)::int from "reservation" where drop_id = d.id and status = 'GRANTED') as free from "drop" d where d.id = ?`,
      [dropId],
    );
    const free = slots?.free ?? 0;
    const granted =
      state.claimable && free > 0
        ? await em.execute<LineRow[]>(
            `update "reservation" r set status = 'GRANTED', granted_at = clock_timestamp(),
                    expires_at = clock_timestamp() + make_interval(secs => d.hold_seconds)
               from "drop" d
              where d.id = r.drop_id and r.id in (
                select id from "reservation" where drop_id = ? and status = 'WAITING' order by rank limit ? for update)
             returning r.user_id, r.rank, r.status, r.granted_at, r.expires_at`,
            [dropId, free],
          )
        : [];
    if (resumed.length > 0) {
      const views = await viewsFor(em, dropId, resumed.map((r) => r.user_id));
      for (const r of resumed) {
        const reservation = views.get(r.user_id);
        if (reservation) record(events, 'reservation.extended', dropId, r.user_id, { reservation, seconds: Math.round(r.seconds * 1000) / 1000, reason: 'resumed' });
      }
    }
    if (expired.length === 0 && granted.length === 0 && freed.length === 0) return;
    const totals = await lineTotals(em, dropId);
    for (const e of expired.sort((a, b) => a.rank - b.rank)) {
      const view = toView(dropId, { ...e, status: 'EXPIRED', granted_at: null, expires_at: null }, 0, totals);
      record(events, 'reservation.expired', dropId, e.user_id, { reservation: view });
      freed.push({ userId: e.user_id, rank: e.rank, reason: 'expired' });
    }
    freed.sort((a, b) => a.rank - b.rank);
    granted.sort((a, b) => a.rank - b.rank);
    granted.forEach((g, i) => {
      record(events, 'reservation.granted', dropId, g.user_id, { reservation: toView(dropId, g, 0, totals) });
      if (initial) return;
      const from = freed[i];
      record(events, 'reservation.passed', dropId, g.user_id, {
        dropId,
        from: from ? { userId: from.userId, rank: from.rank, reason: from.reason } : null,
        to: { userId: g.user_id, rank: g.rank, expiresAt: iso(g.expires_at) },
      });
    });
  }

  /**
   * Brings the line up to date inside the caller's transaction (drop row locked): freeze if the
   * window opened, then expire and backfill. Used by every claim, leave and window action.
   */
  async function syncLocked(em: EntityManager, dropId: string, freed: Freed[] = []): Promise<void> {
    const events: ReturnType<typeof outboxRow>[] = [];
    const { lined, frozen } = await freezeIfDue(em, dropId, events);
    if (!lined) return;
    await settleLocked(em, dropId, events, freed, frozen);
    await flushEvents(em, events);
  }

  async function hasLineDrop(em: EntityManager, dropId: string): Promise<boolean> {
    const [row] = await em.execute<{ allocation_mode: string }[]>(`select allocation_mode from "drop" where id = ?`, [dropId]);
    return hasLine(row?.allocation_mode ?? 'FCFS');
  }

  /** Views of some users' places in a drop's line, in one query. */
  async function viewsFor(em: EntityManager, dropId: string, userIds: string[]): Promise<Map<string, ReservationView>> {
    const views = new Map<string, ReservationView>();
    if (userIds.length === 0) return views;
    // A few users: count each one's waiting predecessors on the (drop, status, rank) index. Many
    // (a room's watchers): one pass over the line with a running count, instead of one count each.
    const sql =
      userIds.length <= FEW_USERS
        ? `select r.user_id, r.rank, r.status, r.granted_at, r.expires_at,
                  (select count(*)::int from "reservation" w where w.drop_id = r.drop_id and w.status = 'WAITING' and w.rank < r.rank) as waiting_ahead
             from "reservation" r where r.drop_id = ? and r.user_id in (?)`
        : `select * from (
             select user_id, rank, status, granted_at, expires_at,
                    coalesce(count(*) filter (where status = 'WAITING') over (order by rank rows between unbounded preceding and 1 preceding), 0)::int as waiting_ahead
               from "reservation" where drop_id = ?) r
            where r.user_id in (?)`;
    const rows = await em.execute<(LineRow & { waiting_ahead: number })[]>(sql, [dropId, userIds]);
    if (rows.length === 0) return views;
    const totals = await lineTotals(em, dropId);
    for (const row of rows) views.set(row.user_id, toView(dropId, row, row.waiting_ahead, totals));
    return views;
  }

  /**
   * For the claim paths on a PRIORITY drop, inside their transaction after the drop's row lock:
   * brings the line up to date, then refuses every user who does not hold a live reservation
   * (`NOT_YOUR_TURN` with their place in line).
   */
  async function admit(em: EntityManager, dropId: string, userIds: string[]): Promise<Map<string, DomainError>> {
    const refused = new Map<string, DomainError>();
    if (userIds.length === 0) return refused;
    await syncLocked(em, dropId);
    const views = await viewsFor(em, dropId, userIds);
    for (const userId of userIds) {
      const view = views.get(userId);
      if (!view) refused.set(userId, new DomainError('NOT_ON_WAITLIST', 'You were not on the waitlist when the window opened.'));
      else if (view.status !== 'GRANTED') {
        const why =
          view.status === 'WAITING'
            ? `You are #${view.rank}; ${view.openReservations} reservations ahead of you are still open.`
            : view.status === 'EXPIRED'
              ? 'Your reservation expired and passed to the next person in line.'
              : 'You gave up your reservation.';
        refused.set(userId, new DomainError('NOT_YOUR_TURN', why, { extra: { reservation: view } }));
      }
    }
    return refused;
  }

  /** The admitted users' reservations become CLAIMED, in the transaction that takes their slots. */
  async function markClaimed(em: EntityManager, dropId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    await em.execute(
      `update "reservation" set status = 'CLAIMED', ended_at = clock_timestamp() where drop_id = ? and status = 'GRANTED' and user_id in (?)`,
      [dropId, userIds],
    );
  }

  /**
   * A user left a PRIORITY drop's waitlist (inside the leave's transaction, row locked): their
   * reservation, or their place in line, is released and passed on at once.
   */
  async function releaseLocked(em: EntityManager, dropId: string, userId: string): Promise<void> {
    const events: ReturnType<typeof outboxRow>[] = [];
    const { frozen } = await freezeIfDue(em, dropId, events);
    const released = await em.execute<LineRow[]>(
      `update "reservation" set status = 'RELEASED', ended_at = clock_timestamp()
        where drop_id = ? and user_id = ? and status in ('WAITING', 'GRANTED')
        returning user_id, rank, status, granted_at, expires_at`,
      [dropId, userId],
    );
    const freed: Freed[] = [];
    const gaveUp = released[0];
    if (gaveUp) {
      const totals = await lineTotals(em, dropId);
      record(events, 'reservation.released', dropId, userId, { reservation: toView(dropId, gaveUp, 0, totals) });
      // A place in line that was only WAITING frees no slot; a held reservation does.
      if (gaveUp.granted_at) freed.push({ userId, rank: gaveUp.rank, reason: 'released' });
    }
    await settleLocked(em, dropId, events, freed, frozen);
    await flushEvents(em, events);
  }

  /**
   * The timers' entry point (and the startup sweep's): one transaction that freezes if due and
   * expires and backfills. Returns when it should run next (the earliest open hold, or the
   * opening of a drop not frozen yet), or null when nothing is pending.
   */
  async function tick(dropId: string): Promise<Date | null> {
    await transaction(orm, async (em) => {
      await lockDropForClaim(em, dropId);
      await syncLocked(em, dropId);
    });
    notifier.drop?.(dropId);
    notifier.committed();
    return nextInstant(dropId);
  }

  /** When the line of a drop next needs work, read without locks (timers only trigger `tick`). */
  async function nextInstant(dropId: string): Promise<Date | null> {
    const [row] = await orm.em.fork().execute<{ next_at: Date | null }[]>(
      `select case when d.allocation_mode not in (${LINE_MODES_SQL}) or not d.is_active then null
                   when d.ranking_frozen_at is null then case when d.claim_window_end > clock_timestamp() then d.claim_window_start end
                   when d.paused_at is not null or d.claim_window_end <= clock_timestamp() then null
                   -- A window moved later: its stopped holds run again (and the line moves) when it opens.
                   when d.claim_window_start > clock_timestamp() then d.claim_window_start
                   else (select min(expires_at) from "reservation" where drop_id = d.id and status = 'GRANTED' and suspended_at is null) end as next_at
         from "drop" d where d.id = ?`,
      [dropId],
    );
    return row?.next_at ? new Date(row.next_at) : null;
  }

  /** Drops whose line has pending work or will have: read at startup and on rebuilds. */
  async function pendingDrops(): Promise<string[]> {
    const rows = await orm.em.fork().execute<{ id: string }[]>(
      `select d.id from "drop" d
        where d.allocation_mode in (${LINE_MODES_SQL}) and d.is_active
          and ((d.ranking_frozen_at is null and d.claim_window_end > clock_timestamp())
               or exists (select 1 from "reservation" r where r.drop_id = d.id and r.status = 'GRANTED'))`,
    );
    return rows.map((r) => r.id);
  }

  /** A user's place in line, or null (FCFS drop, not frozen yet, or not ranked). */
  async function mine(em: EntityManager, dropId: string, userId: string): Promise<ReservationView | null> {
    return (await viewsFor(em, dropId, [userId])).get(userId) ?? null;
  }

  /** Admin: adds time to every open hold (after expiring the ones already over, which passed on). */
  async function extendHolds(dropId: string, seconds: number, actor: Actor): Promise<{ extended: number }> {
    const extended = await transaction(orm, async (em) => {
      await lockDropForClaim(em, dropId);
      if (!(await hasLineDrop(em, dropId))) throw new DomainError('NOT_FOUND', 'This drop is first come, first served: it has no holds.');
      await syncLocked(em, dropId);
      const rows = await em.execute<{ user_id: string }[]>(
        `update "reservation" set expires_at = expires_at + make_interval(secs => ?) where drop_id = ? and status = 'GRANTED' returning user_id`,
        [seconds, dropId],
      );
      const views = await viewsFor(em, dropId, rows.map((r) => r.user_id));
      const events = [...views].map(([userId, reservation]) => outboxRow({ type: 'reservation.extended', dropId, userId, payload: { reservation, seconds } }));
      await flushEvents(em, events);
      await recordAudit(em, actor, { action: 'holds.extend', dropId, details: { seconds, extended: rows.length } });
      return rows.length;
    });
    notifier.committed();
    return { extended };
  }

  return { admit, markClaimed, syncLocked, releaseLocked, tick, nextInstant, pendingDrops, mine, viewsFor, ...createReservationViews(deps), extendHolds };
}
