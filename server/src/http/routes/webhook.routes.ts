import { Router } from 'express';
import { z } from 'zod';
import { createWebhookBodySchema, listDeliveriesQuerySchema, updateWebhookBodySchema } from '@dropspot/protocol';
import { requireAdmin } from '../auth-middleware.ts';
import { requestActor } from '../../modules/audit/audit.ts';
import type { WebhookService } from '../../modules/webhooks/webhook.service.ts';
import { parseBody, parseId, parseQuery } from '../validate.ts';

/** The redeliver routes take no fields (an empty or absent body). */
const emptyBody = z.strictObject({});

/** `/api/admin/webhooks`: admins register endpoints and watch (and redeliver) their deliveries. */
export function webhookRoutes(deps: { webhooks: WebhookService }): Router {
  const { webhooks } = deps;
  const router = Router();
  const endpointId = (raw: unknown) => parseId(raw, 'NOT_FOUND', 'webhook endpoint');

  router.get('/webhooks', requireAdmin, async (_req, res) => {
    res.json({ items: await webhooks.list() });
  });

  /** 201 with the endpoint and its `secret` (`whsec_...`), shown this once. */
  router.post('/webhooks', requireAdmin, async (req, res) => {
    res.status(201).json(await webhooks.create(parseBody(createWebhookBodySchema, req.body), requestActor(req)));
  });

  router.get('/webhooks/:id', requireAdmin, async (req, res) => {
    res.json(await webhooks.get(endpointId(req.params.id)));
  });

  router.patch('/webhooks/:id', requireAdmin, async (req, res) => {
    const id = endpointId(req.params.id);
    res.json(await webhooks.update(id, parseBody(updateWebhookBodySchema, req.body), requestActor(req)));
  });

  router.delete('/webhooks/:id', requireAdmin, async (req, res) => {
    await webhooks.remove(endpointId(req.params.id), requestActor(req));
    res.status(204).end();
  });

  router.get('/webhooks/:id/deliveries', requireAdmin, async (req, res) => {
    const id = endpointId(req.params.id);
    res.json(await webhooks.deliveries(id, parseQuery(listDeliveriesQuerySchema, req.query)));
  });

  /** Every failed delivery of the endpoint again: `{redelivered, expired}` (expired: its event was pruned). */
  router.post('/webhooks/:id/redeliver', requireAdmin, async (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(await webhooks.redeliverFailed(endpointId(req.params.id), requestActor(req)));
  });

  router.post('/webhooks/:id/deliveries/:deliveryId/redeliver', requireAdmin, async (req, res) => {
    const id = endpointId(req.params.id);
    const deliveryId = parseId(req.params.deliveryId, 'NOT_FOUND', 'delivery');
    parseBody(emptyBody, req.body);
    res.json(await webhooks.redeliver(id, deliveryId, requestActor(req)));
  });

  return router;
}
