import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import type { StreamEvent } from '@dropspot/protocol';

const BATCH = 500;

interface Subscriber {
  socket: Socket;
  cursor: number;
  catchingUp: boolean;
  held: StreamEvent[];
}

/**
 * Delivers the event stream to each `/events` socket in id order, nothing missed and nothing
 * repeated. Ids are gap-free, so a socket whose next live event is not `cursor + 1` (a replay is
 * running, or another process published earlier ids that have not reached this one yet) catches
 * up from the database, where every published event already is, and holds live events meanwhile.
 */
export function createStreamDelivery(deps: { after: (cursor: number, limit: number) => Promise<StreamEvent[]>; logger: Logger }) {
  const subscribers = new Map<string, Subscriber>();

  function emit(sub: Subscriber, event: StreamEvent): void {
    sub.cursor = event.id;
    sub.socket.emit('event', event);
  }

  async function catchUp(sub: Subscriber): Promise<void> {
    if (sub.catchingUp) return;
    sub.catchingUp = true;
    try {
      for (;;) {
        const batch = await deps.after(sub.cursor, BATCH);
        for (const event of batch) if (event.id > sub.cursor) emit(sub, event);
        if (batch.length < BATCH) break;
      }
      const held = sub.held.sort((a, b) => a.id - b.id);
      sub.held = [];
      for (const event of held) if (event.id > sub.cursor) emit(sub, event);
    } catch (error) {
      deps.logger.warn({ err: error }, 'event stream catch-up failed; closing the subscriber');
      sub.socket.disconnect(true);
    } finally {
      sub.catchingUp = false;
    }
  }

  return {
    /** Starts a subscriber after `lastEventId`: replays what it missed, then it is live. */
    attach(socket: Socket, lastEventId: number): void {
      const sub: Subscriber = { socket, cursor: lastEventId, catchingUp: false, held: [] };
      subscribers.set(socket.id, sub);
      socket.once('disconnect', () => subscribers.delete(socket.id));
      void catchUp(sub);
    },
    /** Every subscriber reads what it has not seen yet from the database (events published elsewhere that could not reach it). */
    catchUpAll(): void {
      for (const sub of subscribers.values()) void catchUp(sub);
    },
    deliver(event: StreamEvent): void {
      for (const sub of subscribers.values()) {
        if (event.id <= sub.cursor) continue;
        if (sub.catchingUp || event.id !== sub.cursor + 1) {
          sub.held.push(event);
          void catchUp(sub);
        } else {
          emit(sub, event);
        }
      }
    },
  };
}
