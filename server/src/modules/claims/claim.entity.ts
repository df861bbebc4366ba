import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

export const CLAIM_STATUSES = ['ISSUED', 'USED'] as const;

export const ClaimSchema = defineEntity({
  name: 'Claim',
  tableName: 'claim',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade').index(),
    code: p.string().length(14).unique(),
    status: p.enum(CLAIM_STATUSES).default('ISSUED').index(),
    issuedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
    usedAt: p.datetime().columnType('timestamptz').nullable(),
  },
  uniques: [{ name: 'claim_user_drop_unique', properties: ['user', 'drop'] }],
  checks: [{ name: 'claim_used_at_check', expression: "(status = 'USED') = (used_at is not null)" }],
});

export type Claim = InferEntity<typeof ClaimSchema>;
