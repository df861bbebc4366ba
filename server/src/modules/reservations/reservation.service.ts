import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type ExpressionBuilder } from 'kysely';
import { hasLine, type ReservationView } from '@dropspot/protocol';
import { clock, countInt, db, plusSeconds, type Database } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { DomainError } from '../../domain/errors.ts';
import { lockDropForClaim } from '../claims/drop-state.ts';
import { outboxRow, type EventNotifier } from '../events/outbox.ts';
import { OutboxEventSchema } from '../events/outbox-event.entity.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { freezeIfDue } from './line-freeze.ts';
import { FEW_USERS, inChunks, iso, LINE_COLUMNS, lineTotals, toView, type Freed } from './line-rows.ts';
import { nextLineInstant, pendingLineDrops } from './line-schedule.ts';
import { createReservationViews } from './reservation.views.ts';

export type ReservationService = ReturnType<typeof createReservationService>;

/**
 * When claims stopped, for a line's update joined with its drop: the pause, the end of the
 * window, or now for a window not open yet or a drop taken down.
 */
const stoppedAt = (eb: ExpressionBuilder<Database, 'reservation' | 'drop'>) =>
  eb.fn<Date>('least', [clock, eb.fn.coalesce('drop.pausedAt', clock), eb.case().when(eb.ref('drop.isActive')).then(eb.ref('drop.claimWindowEnd')).else(clock).end()]);

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

  /**
   * Expires the holds that ran out (by the database clock), then grants the next WAITING users in
   * rank order up to the free slots (`total_slots − claimed − open reservations`) while the window
   * is open. Each grant after a freed reservation is recorded as `reservation.passed`.
   */
  async function settleLocked(em: EntityManager, dropId: string, events: ReturnType<typeof outboxRow>[], freed: Freed[], initial = false): Promise<void> {
    // Holds run only while claims are possible. When claims stopped (`stoppedAt`), the holds that
    // had run out before expire and the rest stop running; when claims are possible again, each gets
    // back the time it actually spent stopped (a hold granted later than the stop loses nothing).
    const q = db(em);
    const state = await q
      .selectFrom('drop')
      .select((eb) => [
        eb.and([eb.ref('isActive'), eb('pausedAt', 'is', null), eb('claimWindowStart', '<=', clock), eb(clock, '<', eb.ref('claimWindowEnd'))]).as('claimable'),
        eb('rankingFrozenAt', 'is not', null).as('frozen'),
      ])
      .where('id', '=', dropId)
      .executeTakeFirst();
    if (!state?.frozen) return;
    const resumed = state.claimable
      ? await q
          .updateTable('reservation')
          .from((eb) =>
            eb
              .selectFrom('reservation')
              .select(['id', 'suspendedAt as at'])
              .where('drop', '=', dropId)
              .where('status', '=', 'GRANTED')
              .where('suspendedAt', 'is not', null)
              .forUpdate()
              .as('stopped'),
          )
          .set((eb) => ({ expiresAt: sql<Date>`${eb.ref('reservation.expiresAt')} + (clock_timestamp() - ${eb.ref('stopped.at')})`, suspendedAt: null }))
          .whereRef('reservation.id', '=', 'stopped.id')
          .returning((eb) => ['reservation.user as userId', sql<number>`extract(epoch from clock_timestamp() - ${eb.ref('stopped.at')})::float8`.as('seconds')])
          .execute()
      : [];
    const expired = await q
      .updateTable('reservation')
      .from('drop')
      .set({ status: 'EXPIRED', endedAt: clock })
      .whereRef('drop.id', '=', 'reservation.drop')
      .where('reservation.drop', '=', dropId)
      .where('reservation.status', '=', 'GRANTED')
      .where('reservation.suspendedAt', 'is', null)
      .where((eb) => eb('reservation.expiresAt', '<=', stoppedAt(eb)))
      .returning(['reservation.user as userId', 'reservation.rank'])
      .execute();
    if (!state.claimable) {
      await q
        .updateTable('reservation')
        .from('drop')
        .set((eb) => ({ suspendedAt: eb.fn<Date>('greatest', [stoppedAt(eb), 'reservation.grantedAt']) }))
        .whereRef('drop.id', '=', 'reservation.drop')
        .where('reservation.drop', '=', dropId)
        .where('reservation.status', '=', 'GRANTED')
        .where('reservation.suspendedAt', 'is', null)
        .execute();
    }
    const before = await lineTotals(em, dropId);
    const free = before.remaining - before.open;
    const granted =
      state.claimable && free > 0
        ? await q
            .updateTable('reservation')
            .from('drop')
            .set((eb) => ({ status: 'GRANTED', grantedAt: clock, expiresAt: plusSeconds(clock, eb.ref('drop.holdSeconds')) }))
            .whereRef('drop.id', '=', 'reservation.drop')
            .where('reservation.id', 'in', (eb) =>
              eb.selectFrom('reservation as waiting').select('waiting.id').where('waiting.drop', '=', dropId).where('waiting.status', '=', 'WAITING').orderBy('waiting.rank').limit(free).forUpdate(),
            )
            .returning(LINE_COLUMNS)
            .execute()
        : [];
    if (resumed.length > 0) {
      const views = await viewsFor(em, dropId, resumed.map((r) => r.userId));
      for (const r of resumed) {
        const reservation = views.get(r.userId);
        if (reservation) record(events, 'reservation.extended', dropId, r.userId, { reservation, seconds: Math.round(r.seconds * 1000) / 1000, reason: 'resumed' });
      }
    }
    if (expired.length === 0 && granted.length === 0 && freed.length === 0) return;
    const totals = await lineTotals(em, dropId);
    for (const e of expired.sort((a, b) => a.rank - b.rank)) {
      const view = toView(dropId, { ...e, status: 'EXPIRED', grantedAt: null, expiresAt: null }, 0, totals);
      record(events, 'reservation.expired', dropId, e.userId, { reservation: view });
      freed.push({ userId: e.userId, rank: e.rank, reason: 'expired' });
    }
    freed.sort((a, b) => a.rank - b.rank);
    granted.sort((a, b) => a.rank - b.rank);
    granted.forEach((g, i) => {
      record(events, 'reservation.granted', dropId, g.userId, { reservation: toView(dropId, g, 0, totals) });
      if (initial) return;
      const from = freed[i];
      record(events, 'reservation.passed', dropId, g.userId, {
        dropId,
        from: from ? { userId: from.userId, rank: from.rank, reason: from.reason } : null,
        to: { userId: g.userId, rank: g.rank, expiresAt: iso(g.expiresAt) },
      });
    });
  }

  /**
   * Brings the line up to date inside the caller's transaction (drop row locked): freeze if the
   * window opened, then expire and backfill. Used by every claim, leave and window action.
   */
  async function syncLocked(em: EntityManager, dropId: string, freed: Freed[] = []): Promise<void> {
    const events: ReturnType<typeof outboxRow>[] = [];
    const { lined, frozen } = await freezeIfDue(em, formula, dropId, events);
    if (!lined) return;
    await settleLocked(em, dropId, events, freed, frozen);
    await flushEvents(em, events);
  }

  async function hasLineDrop(em: EntityManager, dropId: string): Promise<boolean> {
    const row = await db(em).selectFrom('drop').select('allocationMode').where('id', '=', dropId).executeTakeFirst();
    return hasLine(row?.allocationMode ?? 'FCFS');
  }

  /** Views of some users' places in a drop's line, in one query. */
  async function viewsFor(em: EntityManager, dropId: string, userIds: string[]): Promise<Map<string, ReservationView>> {
    const views = new Map<string, ReservationView>();
    if (userIds.length === 0) return views;
    // A few users: count each one's waiting predecessors on the (drop, status, rank) index. Many
    // (a room's watchers): one pass over the line with a running count, instead of one count each.
    const q = db(em);
    const rows =
      userIds.length <= FEW_USERS
        ? await q
            .selectFrom('reservation as r')
            .select((eb) => [
              ...LINE_COLUMNS,
              eb
                .selectFrom('reservation as w')
                .select(countInt.as('n'))
                .whereRef('w.drop', '=', 'r.drop')
                .where('w.status', '=', 'WAITING')
                .whereRef('w.rank', '<', 'r.rank')
                .as('waitingAhead'),
            ])
            .where('r.drop', '=', dropId)
            .where('r.user', 'in', userIds)
            .execute()
        : await q
            .selectFrom((eb) =>
              eb
                .selectFrom('reservation')
                .select((line) => [
                  ...LINE_COLUMNS,
                  sql<number>`coalesce(count(*) filter (where ${line.ref('status')} = 'WAITING') over (order by ${line.ref('rank')} rows between unbounded preceding and 1 preceding), 0)::int`.as(
                    'waitingAhead',
                  ),
                ])
                .where('drop', '=', dropId)
                .as('r'),
            )
            .selectAll()
            .where('r.userId', 'in', userIds)
            .execute();
    if (rows.length === 0) return views;
    const totals = await lineTotals(em, dropId);
    for (const row of rows) views.set(row.userId, toView(dropId, row, row.waitingAhead ?? 0, totals));
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
    await db(em).updateTable('reservation').set({ status: 'CLAIMED', endedAt: clock }).where('drop', '=', dropId).where('status', '=', 'GRANTED').where('user', 'in', userIds).execute();
  }

  /**
   * A user left a PRIORITY drop's waitlist (inside the leave's transaction, row locked): their
   * reservation, or their place in line, is released and passed on at once.
   */
  async function releaseLocked(em: EntityManager, dropId: string, userId: string): Promise<void> {
    const events: ReturnType<typeof outboxRow>[] = [];
    const { frozen } = await freezeIfDue(em, formula, dropId, events);
    const released = await db(em)
      .updateTable('reservation')
      .set({ status: 'RELEASED', endedAt: clock })
      .where('drop', '=', dropId)
      .where('user', '=', userId)
      .where('status', 'in', ['WAITING', 'GRANTED'])
      .returning(LINE_COLUMNS)
      .execute();
    const freed: Freed[] = [];
    const gaveUp = released[0];
    if (gaveUp) {
      const totals = await lineTotals(em, dropId);
      record(events, 'reservation.released', dropId, userId, { reservation: toView(dropId, gaveUp, 0, totals) });
      // A place in line that was only WAITING frees no slot; a held reservation does.
      if (gaveUp.grantedAt) freed.push({ userId, rank: gaveUp.rank, reason: 'released' });
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
    return nextLineInstant(orm, dropId);
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
      const rows = await db(em)
        .updateTable('reservation')
        .set((eb) => ({ expiresAt: plusSeconds(eb.ref('expiresAt'), seconds) }))
        .where('drop', '=', dropId)
        .where('status', '=', 'GRANTED')
        .returning('user as userId')
        .execute();
      const views = await viewsFor(em, dropId, rows.map((r) => r.userId));
      const events = [...views].map(([userId, reservation]) => outboxRow({ type: 'reservation.extended', dropId, userId, payload: { reservation, seconds } }));
      await flushEvents(em, events);
      await recordAudit(em, actor, { action: 'holds.extend', dropId, details: { seconds, extended: rows.length } });
      return rows.length;
    });
    notifier.committed();
    return { extended };
  }

  return {
    admit,
    markClaimed,
    syncLocked,
    releaseLocked,
    tick,
    nextInstant: (dropId: string) => nextLineInstant(orm, dropId),
    pendingDrops: () => pendingLineDrops(orm),
    mine,
    viewsFor,
    ...createReservationViews(deps),
    extendHolds,
  };
}
