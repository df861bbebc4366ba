import type { Selectable } from 'kysely';
import type { StreamEvent } from '@dropspot/protocol';
import type { Database } from '../../db/kysely.ts';

/** An outbox row as published, with the user it concerns (kept inside the server, see `toPublicEvent`). */
export interface PublishedEvent extends StreamEvent {
  userId: string | null;
}

/** The outbox columns an event is published with. */
export const STREAM_COLUMNS = ['seq', 'type', 'dropId', 'userId', 'payload', 'createdAt'] as const;

export type StreamRow = Pick<Selectable<Database['outbox_event']>, (typeof STREAM_COLUMNS)[number]>;

/** An outbox row as read back with its published `seq`. */
export function toStreamEvent(row: StreamRow): PublishedEvent {
  return {
    id: Number(row.seq),
    type: row.type,
    dropId: row.dropId,
    userId: row.userId,
    at: row.createdAt.toISOString(),
    payload: row.payload,
  };
}
