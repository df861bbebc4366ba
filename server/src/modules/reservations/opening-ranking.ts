import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OpeningEntry, OpeningRankingView, RankingQuery } from '@dropspot/protocol';
import { iso } from './line-rows.ts';
import { RANKING_ORDER, commitmentOf } from './ranking.ts';

export interface OpeningDropRow {
  title: string;
  totalSlots: number;
  rankingSecret: string;
  openingShuffleSeconds: number;
  openingSettledAt: Date | null;
  openingSlots: number | null;
}

/**
 * GET /api/drops/:id/ranking of an FCFS drop with a shuffled opening: the commitment until the
 * interval's claims are served, then the secret and every collected claim in draw-key order with
 * its outcome, a page at a time (the same paging and ETag as a line's ranking).
 */
export async function openingRanking(
  em: EntityManager,
  dropId: string,
  drop: OpeningDropRow,
  userId: string | undefined,
  page: RankingQuery,
): Promise<{ view: OpeningRankingView; etag: string | null }> {
  const settledAt = drop.openingSettledAt;
  const rows = settledAt
    ? await em.execute<{ rank: number; anon_id: string; draw_key: string; outcome: OpeningEntry['outcome'] }[]>(
        `select rank, anon_id, draw_key, outcome from "opening_entry" where drop_id = ? and rank > ? order by rank limit ?`,
        [dropId, page.offset, page.limit],
      )
    : [];
  const [count] = settledAt
    ? await em.execute<{ total: number; last_rank: number | null }[]>(`select count(*)::int as total, max(rank) as last_rank from "opening_entry" where drop_id = ? and rank is not null`, [dropId])
    : [];
  const own =
    userId && settledAt
      ? (await em.execute<{ anon_id: string; rank: number }[]>(`select anon_id, rank from "opening_entry" where drop_id = ? and user_id = ? and rank is not null`, [dropId, userId]))[0]
      : undefined;
  const me = own ? { anonId: own.anon_id, rank: own.rank } : null;
  const entries: OpeningEntry[] = rows.map((r) => ({ rank: r.rank, anonId: r.anon_id, drawKey: r.draw_key, outcome: r.outcome }));
  const last = entries.at(-1);
  const view: OpeningRankingView = {
    allocationMode: 'FCFS',
    formula: null,
    openingShuffleSeconds: drop.openingShuffleSeconds,
    slots: settledAt ? drop.openingSlots : null,
    entries,
    dropId,
    title: drop.title,
    totalSlots: drop.totalSlots,
    commitment: commitmentOf(drop.rankingSecret),
    revealed: settledAt !== null,
    frozenAt: iso(settledAt),
    secret: settledAt ? drop.rankingSecret : null,
    order: RANKING_ORDER.DRAW,
    total: count?.total ?? 0,
    offset: page.offset,
    limit: page.limit,
    nextOffset: last && last.rank < (count?.last_rank ?? 0) ? last.rank : null,
    ...(userId ? { me } : {}),
  };
  const etag = settledAt
    ? `"${createHash('sha256').update(JSON.stringify([entries, drop.title, drop.totalSlots, page.offset, page.limit, userId ? (me?.anonId ?? '-') : ''])).digest('hex').slice(0, 32)}"`
    : null;
  return { view, etag };
}
