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
 * since the last call for this drop. Only the users asked about are remembered, so the memory
 * follows who is watching, not who ever watched.
 */
export function createPositionTracker(orm: Orm) {
  const last = new Map<string, Map<string, number>>();

  return {
    async changed(dropId: string, userIds: string[]): Promise<{ userId: string; position: PositionView }[]> {
      if (userIds.length === 0) {
        last.delete(dropId);
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
      const before = last.get(dropId) ?? new Map<string, number>();
      const now = new Map<string, number>();
      const changes: { userId: string; position: PositionView }[] = [];
      for (const row of rows) {
        now.set(row.user_id, row.position);
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
      last.set(dropId, now);
      return changes;
    },
    forget(dropId: string): void {
      last.delete(dropId);
    },
    clear(): void {
      last.clear();
    },
  };
}
