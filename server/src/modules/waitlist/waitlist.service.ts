import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type MyWaitlistEntry, type PositionView, type WaitlistEntryView } from '@dropspot/protocol';
import { sql, type Kysely } from 'kysely';
import { clock, countInt, db, secondsInterval, type Database } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import { DropSchema } from '../drops/drop.entity.ts';
import { recordEvent, type EventNotifier } from '../events/outbox.ts';
import { UserSchema } from '../users/user.entity.ts';
import { RAPID_ACTIONS_WINDOW_SECONDS, scoreWith, wholeDaysBetween, type PriorityFormula } from './priority.ts';
import { FirstJoinSchema } from './first-join.entity.ts';
import type { UserActionKind } from './user-action.entity.ts';
import { WaitlistSchema, type Waitlist } from './waitlist.entity.ts';
import { lockDropForClaim } from '../claims/drop-state.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';

export type WaitlistService = ReturnType<typeof createWaitlistService>;

export function toWaitlistEntryView(entry: Waitlist): WaitlistEntryView {
  return {
    dropId: entry.drop.id,
    joinedAt: entry.joinedAt.toISOString(),
    priorityScore: entry.priorityScore,
    breakdown: entry.scoreBreakdown,
  };
}

/**
 * The waitlist ranked per drop: each entry with its position and its drop's total. Rank by
 * (priorityScore DESC, joinedAt ASC); the id settles exact ties so every reader computes the same
 * order (`waitlistPosition` counts the same order). Narrow it with a `where` on `drop`.
 */
export function rankedWaitlist(q: Kysely<Database>) {
  return q.selectFrom('waitlist').select((eb) => [
    'user',
    'drop',
    'priorityScore',
    'joinedAt',
    'scoreBreakdown',
    // As int4: the bigints these are would arrive as text.
    eb
      .cast<number>(
        eb.fn.agg('row_number').over((over) => over.partitionBy('drop').orderBy('priorityScore', 'desc').orderBy('joinedAt', 'asc').orderBy('id', 'asc')),
        'integer',
      )
      .as('position'),
    eb.cast<number>(eb.fn.countAll().over((over) => over.partitionBy('drop')), 'integer').as('total'),
  ]);
}

export async function waitlistPosition(em: EntityManager, entry: Waitlist): Promise<number> {
  const row = await db(em)
    .selectFrom('waitlist')
    .select(countInt.as('ahead'))
    .where('drop', '=', entry.drop.id)
    .where((eb) =>
      eb.or([
        eb('priorityScore', '>', entry.priorityScore),
        eb.and([
          eb('priorityScore', '=', entry.priorityScore),
          eb.or([eb('joinedAt', '<', entry.joinedAt), eb.and([eb('joinedAt', '=', entry.joinedAt), eb('id', '<', entry.id)])]),
        ]),
      ]),
    )
    .executeTakeFirst();
  return (row?.ahead ?? 0) + 1;
}

export async function waitlistCount(em: EntityManager, dropId: string): Promise<number> {
  return em.count(WaitlistSchema, { drop: dropId });
}

/**
 * Records a join, leave or claim that changed something and returns how many the user made in
 * the window before it. One statement: the RETURNING subquery sees the table as it was before
 * this insert. Called inside the transaction that makes the change, so refused and no-op
 * requests never count (padding the count would otherwise be free).
 */
export async function recordUserAction(em: EntityManager, userId: string, kind: UserActionKind): Promise<number> {
  const row = await db(em)
    .insertInto('user_action')
    .values({ user: userId, kind, at: sql<Date>`now()` })
    .returning((eb) =>
      eb
        .selectFrom('user_action')
        .select(countInt.as('n'))
        .where('user', '=', userId)
        .where('at', '>', sql<Date>`now() - ${secondsInterval(RAPID_ACTIONS_WINDOW_SECONDS)}`)
        .as('before'),
    )
    .executeTakeFirst();
  return row?.before ?? 0;
}

const lineClosed = () =>
  new DomainError('WAITLIST_CLOSED', 'Joining closed when the claim window opened and the order of the line was frozen.');

export function createWaitlistService(deps: {
  orm: Orm;
  formula: PriorityFormula;
  notifier: EventNotifier;
  line: Pick<ReservationService, 'releaseLocked'>;
}) {
  const { orm, formula, notifier, line } = deps;

  async function findVisibleDrop(em: EntityManager, dropId: string) {
    const drop = await em.findOne(DropSchema, { id: dropId, isActive: true });
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    return drop;
  }

  /**
   * Joins idempotently: a second join returns the first entry unchanged. The first join of a drop
   * fixes the score, its breakdown and the join time; joining again after a leave restores them.
   */
  async function join(userId: string, dropId: string): Promise<{ entry: WaitlistEntryView & { position: number }; created: boolean }> {
    const em = orm.em.fork();
    const existing = await em.findOne(WaitlistSchema, { user: userId, drop: dropId });
    if (existing) return { entry: { ...toWaitlistEntryView(existing), position: await waitlistPosition(em, existing) }, created: false };

    const drop = await findVisibleDrop(em, dropId);
    const user = await em.findOneOrFail(UserSchema, { id: userId });
    const now = new Date();
    if (drop.claimWindowEnd.getTime() <= now.getTime()) {
      throw new DomainError('WAITLIST_CLOSED', 'The claim window has ended; the waitlist is closed.');
    }
    const priority = hasLine(drop.allocationMode);
    if (priority && drop.claimWindowStart.getTime() <= now.getTime()) throw lineClosed();
    const first = await em.findOne(FirstJoinSchema, { user: userId, drop: dropId });
    let entry: Waitlist;
    try {
      // One transaction for the entry, its first-join record and the counted action: a join that
      // fails counts for nothing. The same EntityManager (its unit of work holds the new rows).
      await em.begin();
      try {
        if (priority) {
          // The ranking freezes under the drop's row lock when the window opens: a share lock here
          // waits for a freeze in progress, and the database clock decides whether this join made it.
          const row = await db(em)
            .selectFrom('drop')
            .select((eb) => eb.and([eb('rankingFrozenAt', 'is', null), eb(clock, '<', eb.ref('claimWindowStart'))]).as('open'))
            .where('id', '=', dropId)
            .forShare()
            .executeTakeFirst();
          if (!row?.open) throw lineClosed();
        }
        const rapidActions = await recordUserAction(em, userId, 'join');
        let kept = first ? { priorityScore: first.priorityScore, scoreBreakdown: first.scoreBreakdown, joinedAt: first.joinedAt } : undefined;
        if (!kept) {
          const breakdown = scoreWith(drop.priorityFormula ?? formula.view, {
            signupLatencyMs: Math.max(0, now.getTime() - (drop.publishedAt ?? drop.createdAt).getTime()),
            accountAgeDays: wholeDaysBetween(user.createdAt, now),
            rapidActions,
          });
          kept = { priorityScore: breakdown.score, scoreBreakdown: breakdown, joinedAt: now };
          em.create(FirstJoinSchema, { user, drop, ...kept });
        }
        entry = em.create(WaitlistSchema, { user, drop, ...kept });
        recordEvent(em, { type: 'waitlist.joined', dropId, userId, payload: { entry: toWaitlistEntryView(entry) } });
        await em.flush();
        await em.commit();
      } catch (error) {
        await em.rollback();
        throw error;
      }
    } catch (error) {
      // A parallel join of the same user won the race: answer with its entry.
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
      const fresh = orm.em.fork();
      const winner = await fresh.findOneOrFail(WaitlistSchema, { user: userId, drop: dropId });
      return { entry: { ...toWaitlistEntryView(winner), position: await waitlistPosition(fresh, winner) }, created: false };
    }
    notifier.drop?.(dropId);
    notifier.committed();
    return { entry: { ...toWaitlistEntryView(entry), position: await waitlistPosition(em, entry) }, created: true };
  }

  /** Leaves idempotently; leaving a waitlist one is not on is a no-op. A claim already made stays. */
  async function leave(userId: string, dropId: string): Promise<{ left: boolean }> {
    const em = orm.em.fork();
    const drop = await findVisibleDrop(em, dropId);
    const left = await transaction(orm, async (tem) => {
      // PRIORITY: under the drop's row lock, like claims and expiry, so giving up a reservation
      // and passing it on is one step that cannot interleave with a claim or a backfill.
      // The release comes first: if the window has just opened, the ranking freezes with this user
      // still in it (they were on the waitlist at the instant), and their place is then given up.
      if (hasLine(drop.allocationMode)) {
        await lockDropForClaim(tem, dropId);
        await line.releaseLocked(tem, dropId, userId);
      }
      const deleted = await tem.nativeDelete(WaitlistSchema, { user: userId, drop: dropId });
      if (deleted === 0) return false;
      recordEvent(tem, { type: 'waitlist.left', dropId, userId, payload: { dropId, userId } });
      await recordUserAction(tem, userId, 'leave');
      return true;
    });
    // A PRIORITY leave may have moved the line (freeze, expiry, backfill) even when nothing was left.
    if (left || hasLine(drop.allocationMode)) {
      notifier.drop?.(dropId);
      notifier.committed();
    }
    return { left };
  }

  async function position(userId: string, dropId: string): Promise<PositionView> {
    const em = orm.em.fork();
    const drop = await findVisibleDrop(em, dropId);
    const entry = await em.findOne(WaitlistSchema, { user: userId, drop: dropId });
    if (!entry) throw new DomainError('NOT_ON_WAITLIST', 'You are not on this waitlist.');
    // A frozen PRIORITY ranking is the position that counts (its tie-break is only known from then on).
    const frozen = drop.rankingFrozenAt
      ? await db(em).selectFrom('reservation').select('rank').where('drop', '=', dropId).where('user', '=', userId).executeTakeFirst()
      : undefined;
    const rank = frozen?.rank ?? (await waitlistPosition(em, entry));
    const total = await waitlistCount(em, dropId);
    return {
      dropId,
      position: rank,
      waitlistCount: total,
      priorityScore: entry.priorityScore,
      joinedAt: entry.joinedAt.toISOString(),
      breakdown: entry.scoreBreakdown,
      drawPending: drop.allocationMode === 'DRAW' && !drop.rankingFrozenAt,
    };
  }

  /** The user's waitlist entries with their current positions, newest first (one ranking query). */
  async function mine(userId: string): Promise<MyWaitlistEntry[]> {
    const q = db(orm.em.fork());
    const ranked = rankedWaitlist(q).where('drop', 'in', q.selectFrom('waitlist as own').select('own.drop').where('own.user', '=', userId));
    const rows = await q
      .selectFrom(ranked.as('r'))
      .innerJoin('drop as d', (join) => join.onRef('d.id', '=', 'r.drop').on('d.isActive', '=', true))
      .leftJoin('reservation as res', (join) => join.onRef('res.drop', '=', 'r.drop').onRef('res.user', '=', 'r.user'))
      .select((eb) => ['r.drop', 'd.title', 'd.allocationMode', 'res.rank as drawnRank', eb.fn.coalesce('res.rank', 'r.position').as('position'), 'r.total', 'r.priorityScore', 'r.joinedAt', 'r.scoreBreakdown'])
      .where('r.user', '=', userId)
      .orderBy('r.joinedAt', 'desc')
      .execute();
    return rows.map((row) => ({
      dropId: row.drop,
      dropTitle: row.title,
      allocationMode: row.allocationMode,
      // A drawn DRAW drop has given each entry its rank in the draw (its reservation); before that,
      // the only order there is, the join order, decides nothing.
      drawPending: row.allocationMode === 'DRAW' && row.drawnRank === null,
      position: row.position,
      waitlistCount: row.total,
      priorityScore: row.priorityScore,
      joinedAt: row.joinedAt.toISOString(),
      breakdown: row.scoreBreakdown,
    }));
  }

  return { join, leave, position, mine };
}
