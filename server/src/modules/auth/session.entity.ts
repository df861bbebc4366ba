import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { UserSchema } from '../users/user.entity.ts';

/**
 * One refresh token. Every refresh creates a child in the same family and revokes the parent;
 * presenting a revoked token again means it was stolen or replayed, so the whole family is revoked.
 */
export const SessionSchema = defineEntity({
  name: 'Session',
  tableName: 'session',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    /** sha256 of the opaque refresh token; the token itself is never stored. */
    refreshTokenHash: p.string().length(64).unique(),
    family: p.uuid().index(),
    parent: p.uuid().nullable(),
    userAgent: p.string().length(512).nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    expiresAt: p.datetime().columnType('timestamptz').index(),
    revokedAt: p.datetime().columnType('timestamptz').nullable(),
    revokedReason: p.string().length(32).nullable(),
  },
  indexes: [{ name: 'session_user_revoked_idx', properties: ['user', 'revokedAt'] }],
});

export type Session = InferEntity<typeof SessionSchema>;
