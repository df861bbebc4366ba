import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

export const DropSchema = defineEntity({
  name: 'Drop',
  tableName: 'drop',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    title: p.string().length(200),
    description: p.text().default(''),
    imageUrl: p.string().length(2048).nullable(),
    totalSlots: p.integer(),
    /**
     * Denormalized count of claims (ISSUED or USED). Changed only inside the claim transaction
     * by a conditional update; the CHECK below makes the database itself refuse an oversell.
     */
    claimed: p.integer().default(0),
    claimWindowStart: p.datetime().columnType('timestamptz'),
    claimWindowEnd: p.datetime().columnType('timestamptz'),
    isActive: p.boolean().default(true).index(),
    /** Set while an admin has paused the window; claims are refused until resumed. */
    pausedAt: p.datetime().columnType('timestamptz').nullable(),
    /** When the drop first became visible to users: the origin of the signup-latency score term. */
    publishedAt: p.datetime().columnType('timestamptz').nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
    updatedAt: p
      .datetime()
      .columnType('timestamptz')
      .defaultRaw('now()')
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
  indexes: [{ name: 'drop_claim_window_idx', properties: ['claimWindowStart', 'claimWindowEnd'] }],
  checks: [
    { name: 'drop_total_slots_check', expression: 'total_slots > 0' },
    { name: 'drop_claimed_check', expression: 'claimed >= 0 and claimed <= total_slots' },
    { name: 'drop_window_check', expression: 'claim_window_start < claim_window_end' },
  ],
});

export type Drop = InferEntity<typeof DropSchema>;
