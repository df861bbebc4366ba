import {
  NOTIFICATION_CHANNELS,
  NOTIFICATION_KINDS,
  type NotificationPreferences,
  type NotificationKind,
  type NotificationPreferencesBody,
  type NotificationSettingsView,
  type PushSubscriptionBody,
} from '@dropspot/protocol';
import { sql } from 'kysely';
import type { Config } from '../../config.ts';
import { countInt, db } from '../../db/kysely.ts';
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
    const q = db(orm.em.fork());
    const user = await q
      .selectFrom('user as u')
      .select((eb) => [
        eb('u.emailVerifiedAt', 'is not', null).$castTo<boolean>().as('verified'),
        eb.selectFrom('push_subscription as s').select(countInt.as('n')).whereRef('s.user', '=', 'u.id').$asScalar().as('devices'),
      ])
      .where('u.id', '=', userId)
      .executeTakeFirst();
    if (!user) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
    const rows = await q.selectFrom('notification_preference').select(['kind', 'channel', 'enabled']).where('user', '=', userId).execute();
    const preferences = Object.fromEntries(NOTIFICATION_KINDS.map((kind) => [kind, { email: true, push: true }])) as NotificationPreferences;
    for (const row of rows) {
      const entry = preferences[row.kind] as NotificationPreferences[keyof NotificationPreferences] | undefined;
      if (entry) entry[row.channel] = row.enabled;
    }
    return { preferences, emailVerified: user.verified, push: { publicKey: push.publicKey, devices: user.devices } };
  }

  async function update(userId: string, body: NotificationPreferencesBody): Promise<NotificationSettingsView> {
    const rows = (Object.entries(body.preferences) as [NotificationKind, (typeof body.preferences)[NotificationKind]][]).flatMap(([kind, channels]) =>
      NOTIFICATION_CHANNELS.filter((channel) => channels?.[channel] !== undefined).map((channel) => ({ kind, channel, enabled: channels![channel]! })),
    );
    if (rows.length > 0) {
      await db(orm.em.fork())
        .insertInto('notification_preference')
        .values(rows.map((row) => ({ user: userId, ...row, updatedAt: sql<Date>`now()` })))
        .onConflict((conflict) =>
          conflict.columns(['user', 'kind', 'channel']).doUpdateSet({ enabled: (eb) => eb.ref('excluded.enabled'), updatedAt: sql<Date>`now()` }),
        )
        .execute();
    }
    return settings(userId);
  }

  /** "Notify me on this device": stores the browser's subscription under this account (the newest account wins an endpoint). */
  async function subscribe(userId: string, body: PushSubscriptionBody): Promise<NotificationSettingsView> {
    if (!push.enabled) throw new DomainError('PUSH_UNAVAILABLE', 'Web Push is not set up on this server.');
    checkEndpoint(config, body.endpoint);
    const stored = toStored(body);
    await db(orm.em.fork())
      .insertInto('push_subscription')
      .values({ id: sql<string>`gen_random_uuid()`, user: userId, endpoint: stored.endpoint, p256dh: stored.p256dh, auth: stored.auth, createdAt: sql<Date>`now()` })
      .onConflict((conflict) =>
        conflict.column('endpoint').doUpdateSet((eb) => ({
          user: eb.ref('excluded.user'),
          p256dh: eb.ref('excluded.p256dh'),
          auth: eb.ref('excluded.auth'),
          createdAt: sql<Date>`now()`,
        })),
      )
      .execute();
    return settings(userId);
  }

  /** "Stop on this device": forgets the subscription if it is this account's. */
  async function unsubscribe(userId: string, endpoint: string): Promise<NotificationSettingsView> {
    await db(orm.em.fork()).deleteFrom('push_subscription').where('user', '=', userId).where('endpoint', '=', endpoint).execute();
    return settings(userId);
  }

  return { settings, update, subscribe, unsubscribe };
}

export type NotificationPreferencesService = ReturnType<typeof createNotificationPreferences>;
