import { notificationPreferencesBodySchema, pushSubscriptionBodySchema, pushUnsubscribeBodySchema } from '@dropspot/protocol';
import { notificationSettingsViewSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import type { NotificationPreferencesService } from '../../modules/notifications/preferences.service.ts';
import { userId } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';

/**
 * The signed-in user's notification settings: the preference grid and the browsers subscribed
 * to Web Push ("notify me on this device").
 */
export function notificationRoutes(deps: { preferences: NotificationPreferencesService; config: Readonly<Config> }): ApiRouter {
  const { preferences, config } = deps;
  const api = apiRouter();
  const tag = 'Notifications';
  const changes = limit({ name: 'notification-settings', perMinute: config.rateLimits.authPerMinute, by: 'user' });
  const settings = { tag, access: 'user', responses: { 200: notificationSettingsViewSchema } } as const;
  api.get('/notifications', { ...settings, summary: 'Your notification settings: each kind per channel, and Web Push' }, async (req, res) => {
    res.json(await preferences.settings(userId(req)));
  });
  const updateDoc = { ...settings, summary: 'Turn notification kinds on or off per channel (the rest stay as they are)', body: notificationPreferencesBodySchema, limited: true } as const;
  api.patch('/notifications', updateDoc, changes, async (req, res) => {
    res.json(await preferences.update(userId(req), parseBody(notificationPreferencesBodySchema, req.body)));
  });
  const subscribeDoc = {
    tag,
    access: 'user',
    summary: 'Subscribe this browser to Web Push',
    description: "The browser's `PushSubscription.toJSON()`; only a browser push service's https endpoint is accepted.",
    body: pushSubscriptionBodySchema,
    responses: { 201: notificationSettingsViewSchema },
    errors: ['PUSH_ENDPOINT_REFUSED', 'PUSH_UNAVAILABLE'],
    limited: true,
  } as const;
  api.post('/push-subscriptions', subscribeDoc, changes, async (req, res) => {
    res.status(201).json(await preferences.subscribe(userId(req), parseBody(pushSubscriptionBodySchema, req.body)));
  });
  const unsubscribeDoc = { ...settings, summary: 'Unsubscribe a browser from Web Push', body: pushUnsubscribeBodySchema, limited: true } as const;
  api.delete('/push-subscriptions', unsubscribeDoc, changes, async (req, res) => {
    res.json(await preferences.unsubscribe(userId(req), parseBody(pushUnsubscribeBodySchema, req.body).endpoint));
  });
  return api;
}
