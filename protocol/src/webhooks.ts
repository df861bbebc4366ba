import { z } from 'zod';
import { DOMAIN_EVENT_TYPES, type DomainEventType } from './stream.ts';

/**
 * Webhooks: an admin registers an endpoint (an http(s) URL and the event types it wants); the
 * server signs every delivery with the endpoint's secret (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) and sends an endpoint its events in stream order.
 */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

const urlField = z
  .string()
  .trim()
  .max(2048, 'at most 2048 characters')
  .pipe(z.url({ protocol: /^https?$/, message: 'an http:// or https:// address' }))
  .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character');

const eventTypesField = z
  .array(z.enum(DOMAIN_EVENT_TYPES))
  .min(1, 'choose at least one event type')
  .max(DOMAIN_EVENT_TYPES.length)
  .refine((types) => new Set(types).size === types.length, 'each event type once')
  .transform((types) => [...types].sort() as DomainEventType[]);

const descriptionField = z
  .string()
  .trim()
  .max(200, 'at most 200 characters')
  .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character');

export const createWebhookBodySchema = z.strictObject({
  url: urlField,
  eventTypes: eventTypesField,
  description: descriptionField.default(''),
  enabled: z.boolean().default(true),
});
export type CreateWebhookBody = z.infer<typeof createWebhookBodySchema>;

export const updateWebhookBodySchema = z
  .strictObject({
    url: urlField.optional(),
    eventTypes: eventTypesField.optional(),
    description: descriptionField.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'send at least one field to change');
export type UpdateWebhookBody = z.infer<typeof updateWebhookBodySchema>;

export const WEBHOOK_DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

export const listDeliveriesQuerySchema = z.object({
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListDeliveriesQuery = z.infer<typeof listDeliveriesQuerySchema>;

/** A registered endpoint; its secret is shown once, in the answer that creates it. */
export interface WebhookEndpointView {
  id: string;
  url: string;
  description: string;
  eventTypes: DomainEventType[];
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  /** Deliveries by status (PENDING includes the one being attempted). */
  deliveries: Record<WebhookDeliveryStatus, number>;
}

/** One event for one endpoint; `webhookId` is the `webhook-id` header, the same on every attempt. */
export interface WebhookDeliveryView {
  id: string;
  webhookId: string;
  endpointId: string;
  eventId: number;
  eventType: DomainEventType;
  status: WebhookDeliveryStatus;
  attempts: number;
  createdAt: string;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  /** The HTTP status of the last attempt; null when it got no answer (refused, timed out, unreachable). */
  lastStatus: number | null;
  /** Why the last attempt failed, in words (a refusal, a timeout, a network error), or null. */
  lastError: string | null;
  /** The first bytes of the last answer's body (nothing more is kept). */
  lastResponse: string | null;
}

export interface WebhookDeliveryPage {
  items: WebhookDeliveryView[];
  page: number;
  pageSize: number;
  total: number;
}

/** What a receiver gets in the body: the event as the stream carries it. */
export interface WebhookMessage {
  type: DomainEventType;
  timestamp: string;
  data: { id: number; type: DomainEventType; dropId: string | null; at: string; payload: Record<string, unknown> };
}
