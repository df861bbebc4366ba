import type { DomainEventType, StreamEvent } from '@dropspot/protocol';

/** An outbox row as published, with the user it concerns (kept inside the server, see `toPublicEvent`). */
export interface PublishedEvent extends StreamEvent {
  userId: string | null;
}

export interface StreamRow {
  seq: string | number;
  type: DomainEventType;
  drop_id: string | null;
  user_id: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

/** An outbox row as read back with its published `seq`. */
export function toStreamEvent(row: StreamRow): PublishedEvent {
  return {
    id: Number(row.seq),
    type: row.type,
    dropId: row.drop_id,
    userId: row.user_id,
    at: new Date(row.created_at).toISOString(),
    payload: row.payload,
  };
}
