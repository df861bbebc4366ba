import type { PositionView } from '@dropspot/protocol';
import { db } from '../db/kysely.ts';
import type { Orm } from '../db/orm.ts';
import { rankedWaitlist } from '../modules/waitlist/waitlist.service.ts';

/**
 * Ranks the given users on a drop's waitlist with one query and returns the positions that changed
 * since `last` (which it then updates). Only the users asked about are remembered, so the memory
 * follows who is watching, not who ever watched.
 */
export async function changedPositions(orm: Orm, dropId: string, userIds: string[], last: Map<string, number>): Promise<{ userId: string; position: PositionView }[]> {
  if (userIds.length === 0) {
    last.clear();
    return [];
  }
  const q = db(orm.em.fork());
  // A DRAW drop before its draw: the join order these positions are decides nothing (drawPending).
  const drop = await q.selectFrom('drop').select(['allocationMode', 'rankingFrozenAt']).where('id', '=', dropId).executeTakeFirst();
  const drawPending = drop?.allocationMode === 'DRAW' && !drop.rankingFrozenAt;
  const rows = await q
    .selectFrom(rankedWaitlist(q).where('drop', '=', dropId).as('ranked'))
    .selectAll()
    .where('ranked.user', 'in', userIds)
    .execute();
  const before = new Map(last);
  last.clear();
  const changes: { userId: string; position: PositionView }[] = [];
  for (const row of rows) {
    last.set(row.user, row.position);
    if (before.get(row.user) === row.position) continue;
    changes.push({
      userId: row.user,
      position: {
        dropId,
        position: row.position,
        waitlistCount: row.total,
        priorityScore: row.priorityScore,
        joinedAt: row.joinedAt.toISOString(),
        breakdown: row.scoreBreakdown,
        drawPending,
      },
    });
  }
  return changes;
}
