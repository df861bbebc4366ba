import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { NOTIFICATION_CHANNELS, NOTIFICATION_KINDS } from '@dropspot/protocol';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';

export const NOTIFICATION_STATES = ['PENDING', 'SENT', 'SKIPPED'] as const;

/**
 * One notification: a kind about a drop, for a user, on a channel. The unique key is the promise
 * "at most one per (user, drop, kind, channel)": planning inserts with `on conflict do nothing`,
 * and the send job moves it PENDING → SENT (or SKIPPED when it no longer applies: the preference
 * was turned off, the window moved, the hold was claimed). A SKIPPED one may be armed again
 * (a moved window's "opens soon"); a SENT one never.
 */
export const NotificationSchema = defineEntity({
  name: 'Notification',
  tableName: 'notification',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    drop: () => p.manyToOne(DropSchema).deleteRule('cascade').index(),
    kind: p.enum(NOTIFICATION_KINDS),
    channel: p.enum(NOTIFICATION_CHANNELS),
    state: p.enum(NOTIFICATION_STATES).default('PENDING'),
    /** What it says beyond the drop: the window start it announces, the hold's end, the draw result. */
    detail: p.json<Record<string, unknown>>().nullable(),
    /** Push: the subscriptions it reached already, so a retry after a failure on one device skips the others. */
    deliveredTo: p.json<string[]>().default('[]'),
    /** Why it was skipped (preference, stale, no-device). */
    reason: p.string().length(40).nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    sentAt: p.datetime().columnType('timestamptz').nullable(),
  },
  uniques: [{ name: 'notification_user_drop_kind_channel_unique', properties: ['user', 'drop', 'kind', 'channel'] }],
});

export type Notification = InferEntity<typeof NotificationSchema>;

/**
 * A user's choice for one kind on one channel. No row means the default: on (email needs a
 * confirmed address, push a subscribed device).
 */
export const NotificationPreferenceSchema = defineEntity({
  name: 'NotificationPreference',
  tableName: 'notification_preference',
  properties: {
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').primary(),
    kind: p.enum(NOTIFICATION_KINDS).primary(),
    channel: p.enum(NOTIFICATION_CHANNELS).primary(),
    enabled: p.boolean(),
    updatedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type NotificationPreference = InferEntity<typeof NotificationPreferenceSchema>;

/**
 * A browser that asked for Web Push ("notify me on this device"). One endpoint belongs to one
 * account: the last that subscribed it (a shared browser notifies whoever signed in last).
 * Removed when the push service answers 404 or 410 (the subscription is gone).
 */
export const PushSubscriptionSchema = defineEntity({
  name: 'PushSubscription',
  tableName: 'push_subscription',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(UserSchema).deleteRule('cascade').index(),
    endpoint: p.string().length(2048).unique(),
    p256dh: p.string().length(100),
    auth: p.string().length(40),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
});

export type PushSubscription = InferEntity<typeof PushSubscriptionSchema>;

/**
 * How far notification planning has read the published event stream (`outbox_event.seq`): one
 * row, advanced in the transaction that records what those events cause, so a restart resumes
 * exactly there.
 */
export const NotificationCursorSchema = defineEntity({
  name: 'NotificationCursor',
  tableName: 'notification_cursor',
  properties: {
    id: p.integer().primary().autoincrement(false),
    lastSeq: p.bigint('number'),
  },
});
