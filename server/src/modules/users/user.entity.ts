import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

export const ROLES = ['USER', 'ADMIN'] as const;

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'user',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    // Stored lower-cased; the CHECK makes the unique index case-insensitive by construction.
    email: p.string().length(254).unique(),
    passwordHash: p.string().length(255).hidden(),
    role: p.enum(ROLES).default('USER'),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
  checks: [{ name: 'user_email_lowercase_check', expression: 'email = lower(email)' }],
});

export type User = InferEntity<typeof UserSchema>;
