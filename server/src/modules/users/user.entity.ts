import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { canonicalEmail } from './email-address.ts';

export const ROLES = ['USER', 'ADMIN'] as const;

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'user',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    // Stored lower-cased; the CHECK makes the unique index case-insensitive by construction.
    email: p.string().length(254).unique(),
    /**
     * One account per mailbox: the address's canonical form (email-address.ts), unique. Null only
     * for rows written around the entity (deleted-account placeholders, legacy aliases the
     * migration found), which no signup can collide with.
     */
    emailCanonical: p
      .string()
      .length(254)
      .nullable()
      .unique()
      // Signup and change of email have checked that the form exists (acceptableEmail).
      .onCreate((user: { email: string }) => canonicalEmail(user.email) as string),
    /** When the current address was confirmed through its link; null until then and after a change of email. */
    emailVerifiedAt: p.datetime().columnType('timestamptz').nullable(),
    passwordHash: p.string().length(255).hidden(),
    role: p.enum(ROLES).default('USER'),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
  checks: [{ name: 'user_email_lowercase_check', expression: 'email = lower(email)' }],
});

export type User = InferEntity<typeof UserSchema>;
