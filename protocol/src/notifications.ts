import { z } from 'zod';

/**
 * What a user can be told about a drop they are on the waitlist of (or claimed in), each on or
 * off per channel. `window-opens-soon` comes a configurable lead before the opening,
 * `reservation-expiring` a configurable lead before a held reservation runs out.
 */
export const NOTIFICATION_KINDS = [
  'window-opens-soon',
  'window-opened',
  'reservation-granted',
  'reservation-expiring',
  'claim-confirmed',
  'draw-result',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const NOTIFICATION_CHANNELS = ['email', 'push'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

/** How each kind is named to people (the account page's grid, the drop room). */
export const NOTIFICATION_KIND_TEXT: Record<NotificationKind, string> = {
  'window-opens-soon': 'The claim window opens soon',
  'window-opened': 'The claim window opened',
  'reservation-granted': 'A reservation is yours (with its deadline)',
  'reservation-expiring': 'Your reservation is about to run out',
  'claim-confirmed': 'Your claim is confirmed (with the code)',
  'draw-result': 'Draw results (won or not this time)',
};

const channelsSchema = z.strictObject({ email: z.boolean(), push: z.boolean() });

/** Every kind with its two channels: what `GET /api/me/notifications` answers. */
export type NotificationPreferences = Record<NotificationKind, { email: boolean; push: boolean }>;

/** `PATCH /api/me/notifications`: any subset of kinds and channels; the rest stay as they are. */
export const notificationPreferencesBodySchema = z.strictObject({
  preferences: z.partialRecord(z.enum(NOTIFICATION_KINDS), channelsSchema.partial()),
});
export type NotificationPreferencesBody = z.infer<typeof notificationPreferencesBodySchema>;

const base64url = (bytes: number) => {
  const length = Math.ceil((bytes * 4) / 3);
  return z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${length}}={0,2}$`), `not ${bytes} bytes of base64url`);
};

/**
 * A browser's push subscription (`PushSubscription.toJSON()`): the push service's endpoint and
 * the keys the payload is encrypted to (RFC 8291): a P-256 public key and a 16-byte auth secret.
 * Which endpoints the server will post to is decided by the server (https push services only).
 */
export const pushSubscriptionBodySchema = z.object({
  endpoint: z.url({ protocol: /^https?$/ }).max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({ p256dh: base64url(65), auth: base64url(16) }),
});
export type PushSubscriptionBody = z.infer<typeof pushSubscriptionBodySchema>;

export const pushUnsubscribeBodySchema = z.strictObject({ endpoint: z.url({ protocol: /^https?$/ }).max(2048) });
export type PushUnsubscribeBody = z.infer<typeof pushUnsubscribeBodySchema>;

/** `GET /api/me/notifications`. */
export interface NotificationSettingsView {
  preferences: NotificationPreferences;
  /** Email notifications go only to a confirmed address. */
  emailVerified: boolean;
  /** `publicKey`: the VAPID key for `PushManager.subscribe` (null: Web Push is off on this server). `devices`: subscribed browsers. */
  push: { publicKey: string | null; devices: number };
}

/** What a push message carries (JSON, encrypted to the subscription): the service worker shows it. */
export interface PushMessage {
  title: string;
  body: string;
  /** Opened when the notification is clicked: the drop's page. */
  url: string;
  /** One notification per drop and kind on the device: a newer one replaces it. */
  tag: string;
}
