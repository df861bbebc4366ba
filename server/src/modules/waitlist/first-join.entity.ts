import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { ScoreBreakdown } from '@dropspot/protocol';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

/**
 * A user's first join of a drop: its score, breakdown and time stand for that drop. A later join
 * after a leave restores them instead of drawing a new score, so leaving and joining again can
 * never improve a place in line. Kept apart from `waitlist` so that table still means exactly
 * "on the waitlist now" and none of its readers needs a filter for people who left.
 */
export const FirstJoinSchema = defineEntity({
  name: 'FirstJoin',
  tableName: 'waitlist_first_join',
  properties: {
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').primary(),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade').primary().index(),
    priorityScore: p.integer(),
    scoreBreakdown: p.json<ScoreBreakdown>(),
    joinedAt: p.datetime().columnType('timestamptz'),
  },
});

export type FirstJoin = InferEntity<typeof FirstJoinSchema>;
