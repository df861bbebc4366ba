import type { AdminReservationsView, RankingView, ReservationStatus, ScoreBreakdown } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { iso, type LineRow } from './line-rows.ts';
import { RANKING_ORDER, commitmentOf } from './ranking.ts';

/** Read-only views of a PRIORITY line: the public ranking and the admins' whole line. */
export function createReservationViews(deps: { orm: Orm; formula: PriorityFormula }) {
  const { orm, formula } = deps;

  /** GET /api/drops/:id/ranking: the commitment before the window opens, everything after. */
  async function ranking(dropId: string, userId: string | undefined): Promise<RankingView> {
    const em = orm.em.fork();
    const [drop] = await em.execute<{ title: string; total_slots: number; allocation_mode: string; ranking_secret: string | null; ranking_frozen_at: Date | null }[]>(
      `select title, total_slots, allocation_mode, ranking_secret, ranking_frozen_at from "drop" where id = ? and is_active`,
      [dropId],
    );
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    if (drop.allocation_mode !== 'PRIORITY' || !drop.ranking_secret) {
      throw new DomainError('NOT_FOUND', 'This drop is first come, first served: it has no ranking.');
    }
    const revealed = drop.ranking_frozen_at !== null;
    const rows = revealed
      ? await em.execute<{ user_id: string; rank: number; anon_id: string; priority_score: number; joined_at: Date; score_breakdown: ScoreBreakdown; tie_break: string }[]>(
          `select user_id, rank, anon_id, priority_score, joined_at, score_breakdown, tie_break from "reservation" where drop_id = ? order by rank`,
          [dropId],
        )
      : [];
    const own = userId ? rows.find((r) => r.user_id === userId) : undefined;
    return {
      dropId,
      title: drop.title,
      allocationMode: 'PRIORITY',
      totalSlots: drop.total_slots,
      commitment: commitmentOf(drop.ranking_secret),
      revealed,
      frozenAt: iso(drop.ranking_frozen_at),
      secret: revealed ? drop.ranking_secret : null,
      formula: formula.view,
      order: RANKING_ORDER,
      entries: rows.map((r) => ({
        rank: r.rank,
        anonId: r.anon_id,
        priorityScore: r.priority_score,
        joinedAt: new Date(r.joined_at).toISOString(),
        breakdown: r.score_breakdown,
        tieBreak: r.tie_break,
      })),
      ...(userId ? { me: own ? { anonId: own.anon_id, rank: own.rank } : null } : {}),
    };
  }

  /** Admin: the whole line with who holds what. */
  async function adminView(dropId: string): Promise<AdminReservationsView> {
    const em = orm.em.fork();
    const [drop] = await em.execute<{ total_slots: number; claimed: number; hold_seconds: number; ranking_frozen_at: Date | null; now: Date }[]>(
      `select total_slots, claimed, hold_seconds, ranking_frozen_at, clock_timestamp() as now from "drop" where id = ?`,
      [dropId],
    );
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    const rows = await em.execute<(LineRow & { email: string; ended_at: Date | null })[]>(
      `select r.user_id, u.email, r.rank, r.status, r.granted_at, r.expires_at, r.ended_at
         from "reservation" r join "user" u on u.id = r.user_id where r.drop_id = ? order by r.rank`,
      [dropId],
    );
    const counts: Record<ReservationStatus, number> = { WAITING: 0, GRANTED: 0, CLAIMED: 0, EXPIRED: 0, RELEASED: 0 };
    for (const row of rows) counts[row.status] += 1;
    return {
      dropId,
      totalSlots: drop.total_slots,
      claimed: drop.claimed,
      holdSeconds: drop.hold_seconds,
      frozenAt: iso(drop.ranking_frozen_at),
      counts,
      items: rows.map((r) => ({
        rank: r.rank,
        userId: r.user_id,
        email: r.email,
        status: r.status,
        grantedAt: iso(r.granted_at),
        expiresAt: iso(r.expires_at),
        endedAt: iso(r.ended_at),
      })),
      serverNow: new Date(drop.now).toISOString(),
    };
  }

  return { ranking, adminView };
}
