import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { ScoreBreakdown } from '@dropspot/protocol';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

export const WaitlistSchema = defineEntity({
  name: 'Waitlist',
  tableName: 'waitlist',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade'),
    priorityScore: p.integer(),
    /** The inputs and terms of the score, kept so a user can see (and anyone recompute) it. */
    scoreBreakdown: p.json<ScoreBreakdown>(),
    joinedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
  uniques: [{ name: 'waitlist_user_drop_unique', properties: ['user', 'drop'] }],
  indexes: [
    {
      name: 'waitlist_rank_idx',
      columns: [
        { name: 'drop_id' },
        { name: 'priority_score', sort: 'DESC' },
        { name: 'joined_at', sort: 'ASC' },
      ],
    },
  ],
});

export type Waitlist = InferEntity<typeof WaitlistSchema>;
