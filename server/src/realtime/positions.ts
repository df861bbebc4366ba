import type { PositionView, ScoreBreakdown } from '@dropspot/protocol';
import type { Orm } from '../db/orm.ts';
import { RANK_ORDER } from '../modules/waitlist/waitlist.service.ts';

interface RankRow {
  user_id: string;
  position: number;
  total: number;
  priority_score: number;
  joined_at: Date;
  score_breakdown: ScoreBreakdown;
}

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
  const rows = await orm.em.fork().execute<RankRow[]>(
    `select user_id, position, total, priority_score, joined_at, score_breakdown from (
       select user_id, priority_score, joined_at, score_breakdown,
              row_number() over (order by ${RANK_ORDER})::int as position,
              count(*) over ()::int as total
         from "waitlist" where drop_id = ?) ranked
      where user_id in (?)`,
    [dropId, userIds],
  );
  const before = new Map(last);
  last.clear();
  const changes: { userId: string; position: PositionView }[] = [];
  for (const row of rows) {
    last.set(row.user_id, row.position);
    if (before.get(row.user_id) === row.position) continue;
    changes.push({
      userId: row.user_id,
      position: {
        dropId,
        position: row.position,
        waitlistCount: row.total,
        priorityScore: row.priority_score,
        joinedAt: new Date(row.joined_at).toISOString(),
        breakdown: row.score_breakdown,
      },
    });
  }
  return changes;
}
