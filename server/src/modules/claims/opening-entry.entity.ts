import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

export const OPENING_OUTCOMES = ['CLAIMED', 'SOLD_OUT', 'LEFT'] as const;

/**
 * One claim that arrived during a shuffled FCFS opening (docs/domain.md, "Who may claim"):
 * written when it arrives (unique (drop, user): one per person, a repeat changes nothing), with
 * the user's anonymized id and draw key under the drop's committed secret; `rank` and `outcome`
 * are filled in once, when the interval ends and the entries are served in draw-key order.
 */
export const OpeningEntrySchema = defineEntity({
  name: 'OpeningEntry',
  tableName: 'opening_entry',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade'),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    anonId: p.string().length(16),
    drawKey: p.string().length(64),
    arrivedAt: p.datetime().columnType('timestamptz'),
    rank: p.integer().nullable(),
    outcome: p.enum(OPENING_OUTCOMES).nullable(),
  },
  uniques: [{ name: 'opening_entry_drop_user_unique', properties: ['drop', 'user'] }],
  indexes: [{ name: 'opening_entry_drop_draw_key_idx', properties: ['drop', 'drawKey'] }],
});

export type OpeningEntry = InferEntity<typeof OpeningEntrySchema>;
