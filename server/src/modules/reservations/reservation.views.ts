import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type AdminReservationsView, type PriorityFormulaView, type RankingEntry, type RankingQuery, type RankingView, type ReservationStatus, type ScoreBreakdown } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { iso, type LineRow } from './line-rows.ts';
import { RANKING_ORDER, commitmentOf } from './ranking.ts';
import { openingRanking, type OpeningDropRow } from './opening-ranking.ts';

/** Read-only views of a PRIORITY or DRAW line: the public ranking, a page at a time, and the admins' whole line. */
export function createReservationViews(deps: { orm: Orm; formula: PriorityFormula }) {
  const { orm, formula } = deps;

  /**
   * A revealed ranking never changes, so its pages are kept once read (keyed by drop, freeze
   * instant and page): a popular drop's ranking is read from the database and hashed once, not
   * per request. Only the drop's title and slot count, which can still change, are read each time.
   */
  const rankingPages = new LRUCache<string, { rows: RankingEntry[]; total: number; lastRank: number; tag: string }>({ max: 500 });

  async function rankingPage(em: EntityManager, dropId: string, frozenAt: Date | null, page: RankingQuery) {
    if (!frozenAt) return { rows: [], total: 0, lastRank: 0, tag: '' };
    const key = `${dropId}|${new Date(frozenAt).toISOString()}|${page.offset}|${page.limit}`;
    const hit = rankingPages.get(key);
    if (hit) return hit;
    const rows = await em.execute<{ rank: number; anon_id: string; priority_score: number; joined_at: Date; score_breakdown: ScoreBreakdown; tie_break: string }[]>(
      `select rank, anon_id, priority_score, joined_at, score_breakdown, tie_break from "reservation" where drop_id = ? and rank > ? order by rank limit ?`,
      [dropId, page.offset, page.limit],
    );
    // The last rank, not the count, ends the pages: a deleted account leaves a gap in the ranks.
    const [count] = await em.execute<{ total: number; last_rank: number | null }[]>(
      `select count(*)::int as total, max(rank) as last_rank from "reservation" where drop_id = ?`,
      [dropId],
    );
    const entries: RankingEntry[] = rows.map((r) => ({
      rank: r.rank,
      anonId: r.anon_id,
      priorityScore: r.priority_score,
      joinedAt: new Date(r.joined_at).toISOString(),
      breakdown: r.score_breakdown,
      tieBreak: r.tie_break,
    }));
    const value = { rows: entries, total: count?.total ?? 0, lastRank: count?.last_rank ?? 0, tag: createHash('sha256').update(JSON.stringify(entries)).digest('hex') };
    rankingPages.set(key, value);
    return value;
  }

  /**
   * GET /api/drops/:id/ranking: the commitment before the window opens, everything after, one page
   * at a time. Once revealed, an ETag names the page as this caller sees it (with their own `me`).
   */
  async function ranking(dropId: string, userId: string | undefined, page: RankingQuery): Promise<{ view: RankingView; etag: string | null }> {
    const em = orm.em.fork();
    const [drop] = await em.execute<
      (Omit<OpeningDropRow, 'ranking_secret' | 'opening_shuffle_seconds'> & { allocation_mode: string; ranking_secret: string | null; ranking_frozen_at: Date | null; priority_formula: PriorityFormulaView | null; opening_shuffle_seconds: number | null })[]
    >(
      `select title, total_slots, allocation_mode, ranking_secret, ranking_frozen_at, priority_formula, opening_shuffle_seconds, opening_settled_at, opening_slots
         from "drop" where id = ? and is_active`,
      [dropId],
    );
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    const mode = drop.allocation_mode;
    // FCFS with a shuffled opening: its published order is the opening's.
    const secret = drop.ranking_secret;
    const shuffle = drop.opening_shuffle_seconds;
    if (mode === 'FCFS' && shuffle && secret) return openingRanking(em, dropId, { ...drop, ranking_secret: secret, opening_shuffle_seconds: shuffle }, userId, page);
    if (!hasLine(mode) || !drop.ranking_secret) {
      throw new DomainError('NOT_FOUND', 'This drop is first come, first served without a shuffled opening: it has no ranking.');
    }
    const frozenAt = drop.ranking_frozen_at;
    const part = await rankingPage(em, dropId, frozenAt, page);
    const own = userId && frozenAt ? (await em.execute<{ anon_id: string; rank: number }[]>(`select anon_id, rank from "reservation" where drop_id = ? and user_id = ?`, [dropId, userId]))[0] : undefined;
    const me = own ? { anonId: own.anon_id, rank: own.rank } : null;
    const last = part.rows.at(-1);
    // A DRAW line stores each entry's draw key where PRIORITY stores its tie-break; its scores and join times play no part.
    const byMode =
      mode === 'DRAW'
        ? { allocationMode: mode, formula: null, entries: part.rows.map((r) => ({ rank: r.rank, anonId: r.anonId, drawKey: r.tieBreak })) }
        : { allocationMode: mode, formula: drop.priority_formula ?? formula.view, entries: part.rows };
    const view: RankingView = {
      ...byMode,
      dropId,
      title: drop.title,
      totalSlots: drop.total_slots,
      commitment: commitmentOf(drop.ranking_secret),
      revealed: frozenAt !== null,
      frozenAt: iso(frozenAt),
      secret: frozenAt ? drop.ranking_secret : null,
      order: RANKING_ORDER[mode],
      total: part.total,
      offset: page.offset,
      limit: page.limit,
      nextOffset: last && last.rank < part.lastRank ? last.rank : null,
      ...(userId ? { me } : {}),
    };
    const etag = frozenAt
      ? `"${createHash('sha256').update(`${part.tag}|${drop.title}|${drop.total_slots}|${page.offset}|${page.limit}|${userId ? (me?.anonId ?? '-') : ''}`).digest('hex').slice(0, 32)}"`
      : null;
    return { view, etag };
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
