import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { UserSchema } from '../users/user.entity.ts';

export const USER_ACTION_KINDS = ['join', 'leave', 'claim'] as const;
export type UserActionKind = (typeof USER_ACTION_KINDS)[number];

/**
 * Every join that put the user on a waitlist, leave that took them off and claim that issued
 * one, so the score's rapid-actions term is counted by the server. Refused and no-op requests
 * are not recorded.
 */
export const UserActionSchema = defineEntity({
  name: 'UserAction',
  tableName: 'user_action',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade'),
    kind: p.enum(USER_ACTION_KINDS),
    at: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
  indexes: [{ name: 'user_action_user_at_idx', properties: ['user', 'at'] }],
});

export type UserAction = InferEntity<typeof UserActionSchema>;
