import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { UserSchema } from '../users/user.entity.ts';

export const EMAIL_TOKEN_PURPOSES = ['VERIFY_EMAIL', 'RESET_PASSWORD'] as const;

/**
 * The secret of a link mailed to someone (verify this address, reset the password). Only its
 * sha256 is stored; it works once (`usedAt`) and until `expiresAt`. A verification link is bound
 * to the address it was sent to, so after a change of email an old link verifies nothing.
 */
export const EmailTokenSchema = defineEntity({
  name: 'EmailToken',
  tableName: 'email_token',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    purpose: p.enum(EMAIL_TOKEN_PURPOSES),
    tokenHash: p.string().length(64).unique(),
    email: p.string().length(254),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    expiresAt: p.datetime().columnType('timestamptz'),
    usedAt: p.datetime().columnType('timestamptz').nullable(),
  },
});

export type EmailToken = InferEntity<typeof EmailTokenSchema>;
