import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import type { StreamEvent } from '@dropspot/protocol';
import { DomainError } from '../domain/errors.ts';

/** Events read from the database per query, and the most a subscriber has waiting in memory. */
const PAGE = 500;

interface Subscriber {
  socket: Socket;
  cursor: number;
  catchingUp: boolean;
  /** Live events that arrived during a catch-up (at most a page). */
  held: StreamEvent[];
  /** Live events were dropped from `held` (they are in the database): read on before going live. */
  overflowed: boolean;
}

/**
 * Resolves once the socket has nothing left waiting in this process: Engine.IO flushes its buffer
 * whenever the transport becomes writable, so a writable transport means the buffer is empty and
 * the last write has reached the network (WebSocket) or been collected by the next poll. A client
 * that reads slowly keeps the transport busy, and the replay waits for it.
 */
async function drained(socket: Socket): Promise<void> {
  const conn = socket.conn;
  while (conn.readyState !== 'closed' && !conn.transport.writable) {
    const transport = conn.transport;
    await new Promise<void>((resolve) => {
      const done = () => {
        transport.off('ready', done);
        transport.off('drain', done);
        conn.off('upgrade', done);
        conn.off('close', done);
        resolve();
      };
      transport.on('ready', done);
      transport.on('drain', done);
      conn.on('upgrade', done);
      conn.on('close', done);
    });
  }
}

/**
 * Delivers the event stream to each `/events` socket in id order, nothing missed and nothing
 * repeated. Ids are gap-free, so a socket whose next live event is not `cursor + 1` (a replay is
 * running, or another process published earlier ids that have not reached this one yet) catches
 * up from the database, where every published event already is, and holds live events meanwhile.
 * A replay reads a page at a time and reads the next only when the socket has sent the last one,
 * so a subscriber starting from 0 costs a page of memory, not the whole history.
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
        const page = await deps.after(sub.cursor, PAGE);
        if (sub.socket.disconnected) return;
        for (const event of page) if (event.id > sub.cursor) emit(sub, event);
        await drained(sub.socket);
        if (page.length === PAGE) continue;
        if (!sub.overflowed) break;
        sub.overflowed = false;
        sub.held = [];
      }
      const held = sub.held.sort((a, b) => a.id - b.id);
      sub.held = [];
      for (const event of held) if (event.id > sub.cursor) emit(sub, event);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'EVENTS_EXPIRED') {
        // The events this subscriber still needed were pruned while it read: say so, never skip them.
        sub.socket.emit('stream:error', { code: error.code, message: error.message, oldestEventId: Number(error.extra.oldestEventId) });
      } else {
        deps.logger.warn({ err: error }, 'event stream catch-up failed; closing the subscriber');
      }
      sub.socket.disconnect(true);
    } finally {
      sub.catchingUp = false;
    }
  }

  return {
    /** Starts a subscriber after `lastEventId`: replays what it missed, then it is live. */
    attach(socket: Socket, lastEventId: number): void {
      const sub: Subscriber = { socket, cursor: lastEventId, catchingUp: false, held: [], overflowed: false };
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
          // Every delivered event is already published: past a page, the catch-up reads them instead.
          if (sub.held.length < PAGE) sub.held.push(event);
          else sub.overflowed = true;
          void catchUp(sub);
        } else {
          emit(sub, event);
        }
      }
    },
  };
}
