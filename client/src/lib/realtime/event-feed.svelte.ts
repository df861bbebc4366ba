import { untrack } from 'svelte';
import type { EventsServerToClientEvents, StreamEvent } from '@dropspot/protocol';
import type { ConnectionStatus } from './connection.svelte.ts';
import { privilegedSocket } from './privileged.ts';

const KEEP = 200;

/**
 * The admin's view of the domain event stream (`/events`), newest first. It starts a little way
 * back (`from`), and resumes after the last id it saw when the link comes back, so nothing is
 * skipped or repeated.
 */
export class EventFeed {
  events = $state<StreamEvent[]>([]);
  status = $state<ConnectionStatus>('connecting');
  error = $state<string | null>(null);
  #lastId: number;
  #filter: ((event: StreamEvent) => boolean) | undefined;
  #listeners = new Set<(event: StreamEvent) => void>();

  constructor(from: number, filter?: (event: StreamEvent) => boolean) {
    this.#lastId = Math.max(0, from);
    this.#filter = filter;
  }

  /** Called for every event that passes the filter, as it arrives. */
  subscribe(listener: (event: StreamEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Connects; meant to be returned from an `$effect` (it reads no reactive state, so it runs once). */
  start(): () => void {
    return untrack(() => this.#open());
  }

  #open(): () => void {
    const { socket, close } = privilegedSocket<EventsServerToClientEvents>('/events', {
      auth: () => ({ lastEventId: this.#lastId }),
      onStatus: (status, error) => {
        this.status = status;
        this.error = error ?? null;
      },
    });
    socket.on('event', (event) => {
      if (event.id <= this.#lastId) return;
      this.#lastId = event.id;
      if (this.#filter && !this.#filter(event)) return;
      this.events = [event, ...this.events].slice(0, KEEP);
      for (const listener of this.#listeners) listener(event);
    });
    return close;
  }
}

/** One line about an event, for the feed. */
export function describeEvent(event: StreamEvent): string {
  const p = event.payload as { drop?: { title?: string }; title?: string; claim?: { code?: string }; seconds?: number };
  const title = p.drop?.title ?? p.title;
  const code = p.claim?.code;
  const words: Record<string, string> = {
    'drop.created': `Drop created${title ? `: ${title}` : ''}`,
    'drop.updated': `Drop updated${title ? `: ${title}` : ''}`,
    'drop.deleted': `Drop deleted${title ? `: ${title}` : ''}`,
    'window.opened': 'Window opened',
    'window.closed': 'Window closed',
    'window.extended': `Window extended${p.seconds ? ` by ${p.seconds} s` : ''}`,
    'window.paused': 'Window paused',
    'window.resumed': 'Window resumed',
    'waitlist.joined': 'Someone joined the waitlist',
    'waitlist.left': 'Someone left the waitlist',
    'claim.issued': `Code issued${code ? `: ${code}` : ''}`,
    'claim.redeemed': `Code redeemed${code ? `: ${code}` : ''}`,
  };
  return words[event.type] ?? event.type;
}
