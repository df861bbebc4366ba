import {
  NOTIFICATION_CHANNELS,
  NOTIFICATION_KINDS,
  type NotificationPreferences,
  type NotificationPreferencesBody,
  type NotificationSettingsView,
  type PushSubscriptionBody,
} from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import { checkEndpoint, toStored, type PushSender } from './web-push.ts';

/**
 * A user's notification settings: one switch per kind and channel (no row: on), and the browsers
 * subscribed to Web Push. Email needs a confirmed address; push needs a subscribed device.
 */
export function createNotificationPreferences(deps: { orm: Orm; config: Readonly<Config>; push: PushSender }) {
  const { orm, config, push } = deps;

  async function settings(userId: string): Promise<NotificationSettingsView> {
    const em = orm.em.fork();
    const [user] = await em.execute<{ verified: boolean; devices: number }[]>(
      `select email_verified_at is not null as verified, (select count(*)::int from "push_subscription" where user_id = u.id) as devices from "user" u where u.id = ?`,
      [userId],
    );
    if (!user) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
    const rows = await em.execute<{ kind: string; channel: string; enabled: boolean }[]>(
      `select kind, channel, enabled from "notification_preference" where user_id = ?`,
      [userId],
    );
    const preferences = Object.fromEntries(NOTIFICATION_KINDS.map((kind) => [kind, { email: true, push: true }])) as NotificationPreferences;
    for (const row of rows) {
      const entry = preferences[row.kind as keyof NotificationPreferences];
      if (entry) entry[row.channel as 'email' | 'push'] = row.enabled;
    }
    return { preferences, emailVerified: user.verified, push: { publicKey: push.publicKey, devices: user.devices } };
  }

  async function update(userId: string, body: NotificationPreferencesBody): Promise<NotificationSettingsView> {
    const rows = Object.entries(body.preferences).flatMap(([kind, channels]) =>
      NOTIFICATION_CHANNELS.filter((channel) => channels?.[channel] !== undefined).map((channel) => ({ kind, channel, enabled: channels![channel]! })),
    );
    if (rows.length > 0) {
      await orm.em.fork().execute(
        `insert into "notification_preference" (user_id, kind, channel, enabled, updated_at)
         select ?, r.kind, r.channel, r.enabled, now() from jsonb_to_recordset(?::jsonb) as r(kind text, channel text, enabled boolean)
         on conflict (user_id, kind, channel) do update set enabled = excluded.enabled, updated_at = now()`,
        [userId, JSON.stringify(rows)],
      );
    }
    return settings(userId);
  }

  /** "Notify me on this device": stores the browser's subscription under this account (the newest account wins an endpoint). */
  async function subscribe(userId: string, body: PushSubscriptionBody): Promise<NotificationSettingsView> {
    if (!push.enabled) throw new DomainError('PUSH_UNAVAILABLE', 'Web Push is not set up on this server.');
    checkEndpoint(config, body.endpoint);
    const stored = toStored(body);
    await orm.em.fork().execute(
      `insert into "push_subscription" (id, user_id, endpoint, p256dh, auth, created_at) values (gen_random_uuid(), ?, ?, ?, ?, now())
       on conflict (endpoint) do update set user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, created_at = now()`,
      [userId, stored.endpoint, stored.p256dh, stored.auth],
    );
    return settings(userId);
  }

  /** "Stop on this device": forgets the subscription if it is this account's. */
  async function unsubscribe(userId: string, endpoint: string): Promise<NotificationSettingsView> {
    await orm.em.fork().execute(`delete from "push_subscription" where user_id = ? and endpoint = ?`, [userId, endpoint]);
    return settings(userId);
  }

  return { settings, update, subscribe, unsubscribe };
}

export type NotificationPreferencesService = ReturnType<typeof createNotificationPreferences>;
