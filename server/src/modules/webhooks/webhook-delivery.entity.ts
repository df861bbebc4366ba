import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { WEBHOOK_DELIVERY_STATUSES } from '@dropspot/protocol';
import { WebhookEndpointSchema } from './webhook-endpoint.entity.ts';

/**
 * One event for one endpoint. Its id is the message's `webhook-id`, the same on every attempt and
 * redelivery, so a receiver can drop duplicates. An endpoint's PENDING rows are sent one at a
 * time in `event_seq` order: the next waits until the one before is DELIVERED or FAILED (given up
 * after WEBHOOK_RETRY_FOR_SECONDS). The event itself stays in `outbox_event` (retention keeps the
 * events of PENDING rows); only a short snippet of the receiver's answer is kept here.
 */
export const WebhookDeliverySchema = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_delivery',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    endpoint: () => p.manyToOne(WebhookEndpointSchema).deleteRule('cascade'),
    eventSeq: p.bigint('number'),
    eventType: p.string().length(64),
    status: p.enum(WEBHOOK_DELIVERY_STATUSES).default('PENDING'),
    attempts: p.integer().default(0),
    /** When the next attempt is due (PENDING only). */
    nextAttemptAt: p.datetime().columnType('timestamptz').nullable(),
    /** The first attempt of the current round (a redelivery starts a new one): retries stop a retry period after it. */
    firstAttemptAt: p.datetime().columnType('timestamptz').nullable(),
    lastAttemptAt: p.datetime().columnType('timestamptz').nullable(),
    lastStatus: p.integer().nullable(),
    lastError: p.string().length(300).nullable(),
    lastResponse: p.string().length(500).nullable(),
    deliveredAt: p.datetime().columnType('timestamptz').nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
  },
  uniques: [{ name: 'webhook_delivery_endpoint_seq_unique', properties: ['endpoint', 'eventSeq'] }],
  indexes: [
    { name: 'webhook_delivery_pending_idx', properties: ['endpoint', 'eventSeq'], where: `status = 'PENDING'` },
    { name: 'webhook_delivery_pending_seq_idx', properties: ['eventSeq'], where: `status = 'PENDING'` },
  ],
});

export type WebhookDelivery = InferEntity<typeof WebhookDeliverySchema>;
