import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type AdminReservationsView, type RankingEntry, type RankingQuery, type RankingView, type ReservationStatus } from '@dropspot/protocol';
import { clockText, countInt, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { iso } from './line-rows.ts';
import { RANKING_ORDER, commitmentOf } from './ranking.ts';
import { openingRanking } from './opening-ranking.ts';

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
    const key = `${dropId}|${frozenAt.toISOString()}|${page.offset}|${page.limit}`;
    const hit = rankingPages.get(key);
    if (hit) return hit;
    const q = db(em);
    const rows = await q
      .selectFrom('reservation')
      .select(['rank', 'anonId', 'priorityScore', 'joinedAt', 'scoreBreakdown', 'tieBreak'])
      .where('drop', '=', dropId)
      .where('rank', '>', page.offset)
      .orderBy('rank')
      .limit(page.limit)
      .execute();
    // The last rank, not the count, ends the pages: a deleted account leaves a gap in the ranks.
    const count = await q
      .selectFrom('reservation')
      .select((eb) => [countInt.as('total'), eb.fn.max('rank').as('lastRank')])
      .where('drop', '=', dropId)
      .executeTakeFirst();
    const entries: RankingEntry[] = rows.map((r) => ({
      rank: r.rank,
      anonId: r.anonId,
      priorityScore: r.priorityScore,
      joinedAt: r.joinedAt.toISOString(),
      breakdown: r.scoreBreakdown,
      tieBreak: r.tieBreak,
    }));
    const value = { rows: entries, total: count?.total ?? 0, lastRank: count?.lastRank ?? 0, tag: createHash('sha256').update(JSON.stringify(entries)).digest('hex') };
    rankingPages.set(key, value);
    return value;
  }

  /**
   * GET /api/drops/:id/ranking: the commitment before the window opens, everything after, one page
   * at a time. Once revealed, an ETag names the page as this caller sees it (with their own `me`).
   */
  async function ranking(dropId: string, userId: string | undefined, page: RankingQuery): Promise<{ view: RankingView; etag: string | null }> {
    const em = orm.em.fork();
    const drop = await db(em)
      .selectFrom('drop')
      .select(['title', 'totalSlots', 'allocationMode', 'rankingSecret', 'rankingFrozenAt', 'priorityFormula', 'openingShuffleSeconds', 'openingSettledAt', 'openingSlots'])
      .where('id', '=', dropId)
      .where('isActive', '=', true)
      .executeTakeFirst();
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    const mode = drop.allocationMode;
    // FCFS with a shuffled opening: its published order is the opening's.
    const secret = drop.rankingSecret;
    const shuffle = drop.openingShuffleSeconds;
    if (mode === 'FCFS' && shuffle && secret) return openingRanking(em, dropId, { ...drop, rankingSecret: secret, openingShuffleSeconds: shuffle }, userId, page);
    if (!hasLine(mode) || !drop.rankingSecret) {
      throw new DomainError('NOT_FOUND', 'This drop is first come, first served without a shuffled opening: it has no ranking.');
    }
    const frozenAt = drop.rankingFrozenAt;
    const part = await rankingPage(em, dropId, frozenAt, page);
    const own =
      userId && frozenAt
        ? await db(em).selectFrom('reservation').select(['anonId', 'rank']).where('drop', '=', dropId).where('user', '=', userId).executeTakeFirst()
        : undefined;
    const me = own ? { anonId: own.anonId, rank: own.rank } : null;
    const last = part.rows.at(-1);
    // A DRAW line stores each entry's draw key where PRIORITY stores its tie-break; its scores and join times play no part.
    const byMode =
      mode === 'DRAW'
        ? { allocationMode: mode, formula: null, entries: part.rows.map((r) => ({ rank: r.rank, anonId: r.anonId, drawKey: r.tieBreak })) }
        : { allocationMode: mode, formula: drop.priorityFormula ?? formula.view, entries: part.rows };
    const view: RankingView = {
      ...byMode,
      dropId,
      title: drop.title,
      totalSlots: drop.totalSlots,
      commitment: commitmentOf(drop.rankingSecret),
      revealed: frozenAt !== null,
      frozenAt: iso(frozenAt),
      secret: frozenAt ? drop.rankingSecret : null,
      order: RANKING_ORDER[mode],
      total: part.total,
      offset: page.offset,
      limit: page.limit,
      nextOffset: last && last.rank < part.lastRank ? last.rank : null,
      ...(userId ? { me } : {}),
    };
    const etag = frozenAt
      ? `"${createHash('sha256').update(`${part.tag}|${drop.title}|${drop.totalSlots}|${page.offset}|${page.limit}|${userId ? (me?.anonId ?? '-') : ''}`).digest('hex').slice(0, 32)}"`
      : null;
    return { view, etag };
  }

  /** Admin: the whole line with who holds what. */
  async function adminView(dropId: string): Promise<AdminReservationsView> {
    const em = orm.em.fork();
    const q = db(em);
    const drop = await q.selectFrom('drop').select(['totalSlots', 'claimed', 'holdSeconds', 'rankingFrozenAt', clockText.as('now')]).where('id', '=', dropId).executeTakeFirst();
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    const rows = await q
      .selectFrom('reservation as r')
      .innerJoin('user as u', 'u.id', 'r.user')
      .select(['r.user as userId', 'u.email', 'r.rank', 'r.status', 'r.grantedAt', 'r.expiresAt', 'r.endedAt'])
      .where('r.drop', '=', dropId)
      .orderBy('r.rank')
      .execute();
    const counts: Record<ReservationStatus, number> = { WAITING: 0, GRANTED: 0, CLAIMED: 0, EXPIRED: 0, RELEASED: 0 };
    for (const row of rows) counts[row.status] += 1;
    return {
      dropId,
      totalSlots: drop.totalSlots,
      claimed: drop.claimed,
      holdSeconds: drop.holdSeconds,
      frozenAt: iso(drop.rankingFrozenAt),
      counts,
      items: rows.map((r) => ({
        rank: r.rank,
        userId: r.userId,
        email: r.email,
        status: r.status,
        grantedAt: iso(r.grantedAt),
        expiresAt: iso(r.expiresAt),
        endedAt: iso(r.endedAt),
      })),
      serverNow: new Date(drop.now).toISOString(),
    };
  }


  return { ranking, adminView };
}
