import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { DOMAIN_EVENT_TYPES } from '@dropspot/protocol';

/**
 * The outbox: every domain event is written in the same transaction as the change it describes,
 * so a rolled-back change emits nothing and a committed one is never lost. The relay publishes
 * rows in `id` order and gives each a gap-free publication `seq`, which is the event's public id.
 * No foreign keys: the history of a deleted drop or user stays readable.
 */
export const OutboxEventSchema = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox_event',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    seq: p.bigint('number').nullable().unique(),
    type: p.enum(DOMAIN_EVENT_TYPES),
    dropId: p.uuid().nullable().index(),
    userId: p.uuid().nullable(),
    /** Lets several processes record the same timer-driven fact (a window opening) once. */
    dedupeKey: p.string().length(200).nullable().unique(),
    payload: p.json<Record<string, unknown>>(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()),
    publishedAt: p.datetime().columnType('timestamptz').nullable(),
  },
  indexes: [{ name: 'outbox_event_unpublished_idx', properties: ['id'], where: 'seq is null' }],
});

export type OutboxEvent = InferEntity<typeof OutboxEventSchema>;
