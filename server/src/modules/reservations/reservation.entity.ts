import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { ScoreBreakdown } from '@dropspot/protocol';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

export const RESERVATION_STATUSES = ['WAITING', 'GRANTED', 'CLAIMED', 'EXPIRED', 'RELEASED'] as const;

/**
 * One user's place in a PRIORITY drop's line, written once when the window opens (the frozen
 * ranking: rank, anonymized id, score, tie-break) and then moved through its reservation states.
 * Unique (drop, user): a user can never hold two reservations for one drop; unique (drop, rank):
 * the order is total. Grants go to WAITING rows in rank order, so every GRANTED row is ranked
 * above every WAITING one.
 */
export const ReservationSchema = defineEntity({
  name: 'Reservation',
  tableName: 'reservation',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade'),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    rank: p.integer(),
    anonId: p.string().length(16),
    priorityScore: p.integer(),
    scoreBreakdown: p.json<ScoreBreakdown>(),
    joinedAt: p.datetime().columnType('timestamptz'),
    tieBreak: p.string().length(64),
    status: p.enum(RESERVATION_STATUSES).default('WAITING'),
    grantedAt: p.datetime().columnType('timestamptz').nullable(),
    expiresAt: p.datetime().columnType('timestamptz').nullable(),
    /**
     * Set while a GRANTED hold is stopped because nobody can claim (paused, window moved later,
     * closed, deactivated): it does not run out then, and when claims are possible again its
     * `expires_at` moves on by the time it spent stopped.
     */
    suspendedAt: p.datetime().columnType('timestamptz').nullable(),
    /** When it was claimed, expired or released. */
    endedAt: p.datetime().columnType('timestamptz').nullable(),
  },
  uniques: [
    { name: 'reservation_drop_user_unique', properties: ['drop', 'user'] },
    { name: 'reservation_drop_rank_unique', properties: ['drop', 'rank'] },
  ],
  indexes: [
    { name: 'reservation_drop_status_rank_idx', properties: ['drop', 'status', 'rank'] },
    { name: 'reservation_status_expires_idx', properties: ['status', 'expiresAt'] },
  ],
  checks: [
    { name: 'reservation_rank_check', expression: 'rank > 0' },
    { name: 'reservation_granted_check', expression: "(status = 'GRANTED') = (expires_at is not null and ended_at is null)" },
  ],
});

export type Reservation = InferEntity<typeof ReservationSchema>;
