import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { UserSchema } from '../users/user.entity.ts';

/** A token an admin creates for a dashboard or integration to read the event stream. */
export const ApiTokenSchema = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    name: p.string().length(100),
    /** sha256 of the token; the token is shown once, at creation. */
    tokenHash: p.string().length(64).unique(),
    createdBy: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    lastUsedAt: p.datetime().columnType('timestamptz').nullable(),
    revokedAt: p.datetime().columnType('timestamptz').nullable(),
  },
});

export type ApiToken = InferEntity<typeof ApiTokenSchema>;
