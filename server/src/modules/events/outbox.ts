import type { EntityManager } from '@mikro-orm/postgresql';
import type { DomainEventType } from '@dropspot/protocol';
import { OutboxEventSchema } from './outbox-event.entity.ts';

export interface DomainEventInput {
  type: DomainEventType;
  dropId?: string | null;
  /** Whose personal sockets hear about it (their claim, their waitlist entry). */
  userId?: string | null;
  payload: Record<string, unknown>;
  dedupeKey?: string;
}

/** The outbox row for an event (for `em.insertMany` when a transaction writes many at once). */
export function outboxRow(event: DomainEventInput) {
  return {
    type: event.type,
    dropId: event.dropId ?? null,
    userId: event.userId ?? null,
    payload: event.payload,
    dedupeKey: event.dedupeKey ?? null,
    seq: null,
    publishedAt: null,
    createdAt: new Date(),
  };
}

/**
 * Adds the event to the unit of work: it is inserted by the same flush, inside the same
 * transaction, as the change it describes.
 */
export function recordEvent(em: EntityManager, event: DomainEventInput): void {
  em.create(OutboxEventSchema, outboxRow(event));
}

/** Told after a commit that wrote events, so they are published at once rather than at the next poll. */
export interface EventNotifier {
  committed(): void;
  /** A drop's numbers changed in that commit (optional: lets read caches forget it). */
  drop?(dropId: string): void;
}

export const silentNotifier: EventNotifier = { committed: () => {} };
