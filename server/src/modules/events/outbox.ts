import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Selectable } from 'kysely';
import type { DomainEventType } from '@dropspot/protocol';
import { db, type Database } from '../../db/kysely.ts';
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

/** Payload fields that say who someone is or hold their secret: a deleted account's events lose them. */
const PERSONAL_KEYS = new Set(['userId', 'email', 'code']);

function scrub(value: unknown, userId: string): unknown {
  if (Array.isArray(value)) return value.map((item) => scrub(item, userId));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).flatMap(([key, item]) => (PERSONAL_KEYS.has(key) ? [] : [[key, scrub(item, userId)]])));
  }
  return value === userId ? null : value;
}

/**
 * Forgets a deleted account in the stored event history, inside the deletion's transaction (its
 * own events included, hence the flush first). The rows stay, so the stream's ids remain
 * gap-free and its history keeps its shape, but they lose the user id and every personal payload
 * field (user id, email, claim code) wherever it sits.
 */
export async function forgetUserInOutbox(em: EntityManager, userId: string): Promise<void> {
  await em.flush();
  const rows = await db(em)
    .selectFrom('outbox_event')
    .select(['id', 'payload'])
    .where((eb) => eb.or([eb('userId', '=', userId), eb(sql<number>`strpos(${eb.ref('payload')}::text, ${userId})`, '>', 0)]))
    .orderBy('id')
    .forUpdate()
    .execute();
  if (rows.length === 0) return;
  const scrubbed = JSON.stringify(rows.map((row) => ({ id: row.id, payload: scrub(row.payload, userId) })));
  await db(em)
    .updateTable('outbox_event')
    .from(sql<Pick<Selectable<Database['outbox_event']>, 'id' | 'payload'>>`jsonb_to_recordset(${scrubbed}::jsonb)`.as<'s'>(sql`s(id bigint, payload jsonb)`))
    .set((eb) => ({ userId: null, payload: eb.ref('s.payload') }))
    .whereRef('outbox_event.id', '=', 's.id')
    .execute();
}

/** Told after a commit that wrote events, so they are published at once rather than at the next poll. */
export interface EventNotifier {
  committed(): void;
  /** A drop's numbers changed in that commit (optional: lets read caches forget it). */
  drop?(dropId: string): void;
}

export const silentNotifier: EventNotifier = { committed: () => {} };
