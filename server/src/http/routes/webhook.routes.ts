import { z } from 'zod';
import { createWebhookBodySchema, listDeliveriesQuerySchema, updateWebhookBodySchema, uuidSchema } from '@dropspot/protocol';
import {
  createdWebhookEndpointSchema,
  redeliveredSchema,
  webhookDeliveryPageSchema,
  webhookDeliveryViewSchema,
  webhookEndpointListSchema,
  webhookEndpointViewSchema,
} from '@dropspot/protocol/api';
import { requestActor } from '../../modules/audit/audit.ts';
import type { WebhookService } from '../../modules/webhooks/webhook.service.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { parseBody, parseId, parseQuery } from '../validate.ts';

/** The redeliver routes take no fields (an empty or absent body). */
const emptyBody = z.strictObject({});

/** `/api/admin/webhooks`: admins register endpoints and watch (and redeliver) their deliveries. */
export function webhookRoutes(deps: { webhooks: WebhookService }): ApiRouter {
  const { webhooks } = deps;
  const api = apiRouter();
  const tag = 'Webhooks';
  const onEndpoint = { tag, access: 'admin', params: { id: uuidSchema } } as const;
  const endpointId = (raw: unknown) => parseId(raw, 'NOT_FOUND', 'webhook endpoint');

  api.get('/webhooks', { tag, access: 'admin', summary: 'Webhook endpoints', responses: { 200: webhookEndpointListSchema } }, async (_req, res) => {
    res.json({ items: await webhooks.list() });
  });

  const createDoc = {
    tag,
    access: 'admin',
    summary: 'Register a webhook endpoint',
    description: 'The answer carries its signing `secret` (`whsec_…`), shown this once. It receives the events published from now on.',
    body: createWebhookBodySchema,
    responses: { 201: createdWebhookEndpointSchema },
    errors: ['WEBHOOK_URL_REFUSED'],
  } as const;
  api.post('/webhooks', createDoc, async (req, res) => {
    res.status(201).json(await webhooks.create(parseBody(createWebhookBodySchema, req.body), requestActor(req)));
  });

  api.get('/webhooks/:id', { ...onEndpoint, summary: 'One webhook endpoint', responses: { 200: webhookEndpointViewSchema }, errors: ['NOT_FOUND'] }, async (req, res) => {
    res.json(await webhooks.get(endpointId(req.params.id)));
  });

  const updateDoc = {
    ...onEndpoint,
    summary: 'Change a webhook endpoint (URL, event types, description, enabled)',
    body: updateWebhookBodySchema,
    responses: { 200: webhookEndpointViewSchema },
    errors: ['NOT_FOUND', 'WEBHOOK_URL_REFUSED'],
  } as const;
  api.patch('/webhooks/:id', updateDoc, async (req, res) => {
    const id = endpointId(req.params.id);
    res.json(await webhooks.update(id, parseBody(updateWebhookBodySchema, req.body), requestActor(req)));
  });

  api.delete('/webhooks/:id', { ...onEndpoint, summary: 'Delete a webhook endpoint and its deliveries', responses: { 204: null }, errors: ['NOT_FOUND'] }, async (req, res) => {
    await webhooks.remove(endpointId(req.params.id), requestActor(req));
    res.status(204).end();
  });

  const deliveriesDoc = {
    ...onEndpoint,
    summary: "An endpoint's deliveries, newest first, one page",
    query: listDeliveriesQuerySchema,
    responses: { 200: webhookDeliveryPageSchema },
    errors: ['NOT_FOUND'],
  } as const;
  api.get('/webhooks/:id/deliveries', deliveriesDoc, async (req, res) => {
    const id = endpointId(req.params.id);
    res.json(await webhooks.deliveries(id, parseQuery(listDeliveriesQuerySchema, req.query)));
  });

  const redeliverAllDoc = {
    ...onEndpoint,
    summary: 'Redeliver every failed delivery of an endpoint',
    description: 'Same `webhook-id`, a fresh retry period. `expired`: failed deliveries whose event was pruned (left failed).',
    body: emptyBody,
    responses: { 200: redeliveredSchema },
    errors: ['NOT_FOUND'],
  } as const;
  api.post('/webhooks/:id/redeliver', redeliverAllDoc, async (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(await webhooks.redeliverFailed(endpointId(req.params.id), requestActor(req)));
  });

  const redeliverDoc = {
    ...onEndpoint,
    params: { id: uuidSchema, deliveryId: uuidSchema },
    summary: 'Redeliver one failed delivery',
    description: 'Same `webhook-id`, a fresh retry period.',
    body: emptyBody,
    responses: { 200: webhookDeliveryViewSchema },
    errors: ['NOT_FOUND', 'DELIVERY_NOT_FAILED', 'EVENTS_EXPIRED'],
  } as const;
  api.post('/webhooks/:id/deliveries/:deliveryId/redeliver', redeliverDoc, async (req, res) => {
    const id = endpointId(req.params.id);
    const deliveryId = parseId(req.params.deliveryId, 'NOT_FOUND', 'delivery');
    parseBody(emptyBody, req.body);
    res.json(await webhooks.redeliver(id, deliveryId, requestActor(req)));
  });

  return api;
}
