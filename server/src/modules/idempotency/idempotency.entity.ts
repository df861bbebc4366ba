import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { UserSchema } from '../users/user.entity.ts';

/** A remembered `Idempotency-Key`: in flight while its request runs, then the stored success response. */
export const IdempotencyKeySchema = defineEntity({
  name: 'IdempotencyKey',
  tableName: 'idempotency_key',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade'),
    key: p.string().length(200),
    /** sha256 of method, path and body: the same key with another request is refused. */
    fingerprint: p.string().length(64),
    state: p.enum(['IN_FLIGHT', 'DONE'] as const),
    responseStatus: p.integer().nullable(),
    responseBody: p.json<unknown>().nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
  },
  uniques: [{ name: 'idempotency_key_user_key_unique', properties: ['user', 'key'] }],
});

export type IdempotencyKey = InferEntity<typeof IdempotencyKeySchema>;
