import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OpeningEntry, OpeningRankingView, RankingQuery } from '@dropspot/protocol';
import type { NotNull } from 'kysely';
import { countInt, db } from '../../db/kysely.ts';
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
  const q = db(em);
  // Once served, every entry has its rank and outcome (set together): the ranked rows are narrowed to that.
  const rows = settledAt
    ? await q
        .selectFrom('opening_entry')
        .select(['rank', 'anonId', 'drawKey', 'outcome'])
        .where('drop', '=', dropId)
        .where('rank', '>', page.offset)
        .orderBy('rank')
        .limit(page.limit)
        .$narrowType<{ rank: NotNull; outcome: NotNull }>()
        .execute()
    : [];
  const count = settledAt
    ? await q
        .selectFrom('opening_entry')
        .select((eb) => [countInt.as('total'), eb.fn.max('rank').as('lastRank')])
        .where('drop', '=', dropId)
        .where('rank', 'is not', null)
        .executeTakeFirst()
    : undefined;
  const own =
    userId && settledAt
      ? await q
          .selectFrom('opening_entry')
          .select(['anonId', 'rank'])
          .where('drop', '=', dropId)
          .where('user', '=', userId)
          .where('rank', 'is not', null)
          .$narrowType<{ rank: NotNull }>()
          .executeTakeFirst()
      : undefined;
  const me = own ? { anonId: own.anonId, rank: own.rank } : null;
  const entries: OpeningEntry[] = rows.map((r) => ({ rank: r.rank, anonId: r.anonId, drawKey: r.drawKey, outcome: r.outcome }));
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
    nextOffset: last && last.rank < (count?.lastRank ?? 0) ? last.rank : null,
    ...(userId ? { me } : {}),
  };
  const etag = settledAt
    ? `"${createHash('sha256').update(JSON.stringify([entries, drop.title, drop.totalSlots, page.offset, page.limit, userId ? (me?.anonId ?? '-') : ''])).digest('hex').slice(0, 32)}"`
    : null;
  return { view, etag };
}
