import { randomUUID } from 'node:crypto';
import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { DomainEventType } from '@dropspot/protocol';

/**
 * A receiver an admin registered: where to POST, which event types, and the secret every
 * delivery is signed with (Standard Webhooks, `whsec_` + base64; shown once, at creation).
 * `lastSeq` is the endpoint's cursor in the event stream: every published event up to it has
 * been considered (a delivery row queued when the type matches). One process at a time delivers
 * to an endpoint: the one holding its lease (`leaseOwner` until `leasedUntil`).
 */
export const WebhookEndpointSchema = defineEntity({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoint',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    url: p.string().length(2048),
    description: p.string().length(200).default(''),
    eventTypes: p.array<DomainEventType>(),
    secret: p.string().length(100),
    enabled: p.boolean().default(true),
    lastSeq: p.bigint('number').default(0),
    leaseOwner: p.string().length(64).nullable(),
    leasedUntil: p.datetime().columnType('timestamptz').nullable(),
    /** The admin who registered it (no foreign key: the audit log keeps who, the endpoint outlives them). */
    createdBy: p.uuid().nullable(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    updatedAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});

export type WebhookEndpoint = InferEntity<typeof WebhookEndpointSchema>;
