import { Router } from 'express';
import { notificationPreferencesBodySchema, pushSubscriptionBodySchema, pushUnsubscribeBodySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { NotificationPreferencesService } from '../../modules/notifications/preferences.service.ts';
import { requireUser, userId } from '../auth-middleware.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';

/**
 * The signed-in user's notification settings: the preference grid and the browsers subscribed
 * to Web Push ("notify me on this device").
 */
export function notificationRoutes(deps: { preferences: NotificationPreferencesService; config: Readonly<Config> }): Router {
  const { preferences, config } = deps;
  const router = Router();
  const changes = limit({ name: 'notification-settings', perMinute: config.rateLimits.authPerMinute, by: 'user' });
  router.get('/notifications', requireUser, async (req, res) => {
    res.json(await preferences.settings(userId(req)));
  });
  router.patch('/notifications', requireUser, changes, async (req, res) => {
    res.json(await preferences.update(userId(req), parseBody(notificationPreferencesBodySchema, req.body)));
  });
  router.post('/push-subscriptions', requireUser, changes, async (req, res) => {
    res.status(201).json(await preferences.subscribe(userId(req), parseBody(pushSubscriptionBodySchema, req.body)));
  });
  router.delete('/push-subscriptions', requireUser, changes, async (req, res) => {
    res.json(await preferences.unsubscribe(userId(req), parseBody(pushUnsubscribeBodySchema, req.body).endpoint));
  });
  return router;
}
