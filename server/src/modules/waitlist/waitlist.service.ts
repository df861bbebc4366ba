import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type PositionView, type ScoreBreakdown, type WaitlistEntryView } from '@dropspot/protocol';
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
 * Rank by (priorityScore DESC, joinedAt ASC); the id settles exact ties so every reader
 * computes the same order.
 */
/** The ranking as SQL, for window functions over a drop's entries; `waitlistPosition` counts the same order. */
export const RANK_ORDER = 'priority_score desc, joined_at asc, id asc';

export async function waitlistPosition(em: EntityManager, entry: Waitlist): Promise<number> {
  const rows = await em.execute<{ ahead: number }[]>(
    `select count(*)::int as ahead from "waitlist" w
      where w.drop_id = ? and (w.priority_score > ? or (w.priority_score = ? and (w.joined_at < ? or (w.joined_at = ? and w.id < ?))))`,
    [entry.drop.id, entry.priorityScore, entry.priorityScore, entry.joinedAt, entry.joinedAt, entry.id],
  );
  return (rows[0]?.ahead ?? 0) + 1;
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
  const rows = await em.execute<{ before: number }[]>(
    `insert into "user_action" (user_id, kind, at) values (?, ?, now())
     returning (select count(*)::int from "user_action" where user_id = ? and at > now() - make_interval(secs => ?)) as before`,
    [userId, kind, userId, RAPID_ACTIONS_WINDOW_SECONDS],
  );
  return rows[0]?.before ?? 0;
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
          const [row] = await em.execute<{ open: boolean }[]>(
            `select ranking_frozen_at is null and clock_timestamp() < claim_window_start as open from "drop" where id = ? for share`,
            [dropId],
          );
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
    const frozen = drop.rankingFrozenAt ? await em.execute<{ rank: number }[]>(`select rank from "reservation" where drop_id = ? and user_id = ?`, [dropId, userId]) : [];
    const rank = frozen[0]?.rank ?? (await waitlistPosition(em, entry));
    const total = await waitlistCount(em, dropId);
    return {
      dropId,
      position: rank,
      waitlistCount: total,
      priorityScore: entry.priorityScore,
      joinedAt: entry.joinedAt.toISOString(),
      breakdown: entry.scoreBreakdown,
    };
  }

  /** The user's waitlist entries with their current positions, newest first (one ranking query). */
  async function mine(userId: string): Promise<(PositionView & { dropTitle: string })[]> {
    const rows = await orm.em.fork().execute<
      { drop_id: string; title: string; position: number; total: number; priority_score: number; joined_at: Date; score_breakdown: ScoreBreakdown }[]
    >(
      `select r.drop_id, d.title, coalesce(res.rank, r.position) as position, r.total, r.priority_score, r.joined_at, r.score_breakdown from (
         select w.user_id, w.drop_id, w.priority_score, w.joined_at, w.score_breakdown,
                row_number() over (partition by w.drop_id order by ${RANK_ORDER})::int as position,
                count(*) over (partition by w.drop_id)::int as total
           from "waitlist" w where w.drop_id in (select drop_id from "waitlist" where user_id = ?)) r
         join "drop" d on d.id = r.drop_id and d.is_active
         left join "reservation" res on res.drop_id = r.drop_id and res.user_id = r.user_id
        where r.user_id = ?
        order by r.joined_at desc`,
      [userId, userId],
    );
    return rows.map((row) => ({
      dropId: row.drop_id,
      dropTitle: row.title,
      position: row.position,
      waitlistCount: row.total,
      priorityScore: row.priority_score,
      joinedAt: new Date(row.joined_at).toISOString(),
      breakdown: row.score_breakdown,
    }));
  }

  return { join, leave, position, mine };
}
