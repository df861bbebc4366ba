import { io, type Socket } from 'socket.io-client';
import type { Ack, ClientToServerEvents, ServerToClientEvents } from '@dropspot/protocol';
import type { ErrorCode } from '@dropspot/protocol';
import { accessTokenStale, hasSignedInHint, refreshSession, setSignedInHint } from '../api.ts';
import { clock } from '../clock.svelte.ts';

export type PublicSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type ConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

type Handlers = { [E in keyof ServerToClientEvents]?: ServerToClientEvents[E] };

/** Events whose last argument is an acknowledgement, with that ack's payload type. */
type AckEvents = {
  [E in keyof ClientToServerEvents]: Parameters<ClientToServerEvents[E]> extends [...infer _A, (ack: Ack<infer T>) => void] ? T : never;
};
type PayloadOf<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]> extends [infer P, unknown] ? P : undefined;

const ACK_TIMEOUT_MS = 10_000;
/** Refusals that mean "your access token is gone", after which a refresh may help. */
export const RENEWABLE: ReadonlySet<string> = new Set<ErrorCode>(['TOKEN_EXPIRED', 'UNAUTHENTICATED']);

/**
 * The page's one Socket.IO connection. It authenticates with the session cookie at the handshake,
 * refreshes an expired session by itself, and tells everyone watching when it connects again so
 * they can ask for fresh snapshots.
 */
export class Connection {
  status = $state<ConnectionStatus>('connecting');
  database = $state<'up' | 'down'>('up');
  /** Set when the server said it is shutting down; cleared once connected again. */
  notice = $state<string | null>(null);
  /** Called when the session ended for good (another device logged out, or it was revoked). */
  onSignedOut: (() => void) | undefined;
  readonly socket: PublicSocket;
  #connectListeners = new Set<() => void>();

  constructor() {
    this.socket = io({ transports: ['websocket', 'polling'], withCredentials: true, autoConnect: true });
    this.socket.on('connect', () => void this.#connected());
    this.socket.on('disconnect', (reason) => {
      this.status = reason === 'io client disconnect' ? 'offline' : 'reconnecting';
    });
    this.socket.io.on('reconnect_attempt', () => {
      this.status = 'reconnecting';
    });
    this.socket.on('connect_error', () => {
      this.status = this.socket.active ? 'reconnecting' : 'offline';
    });
    this.socket.on('server:status', (status) => {
      const recovered = this.database === 'down' && status.database === 'up';
      this.database = status.database;
      clock.sync(status.serverNow);
      // Whatever changed while the database was away: every room asks for a fresh snapshot.
      if (recovered) this.#notify();
    });
    this.socket.on('server:shutdown', () => {
      this.notice = 'The server is restarting. Reconnecting…';
    });
    this.socket.on('session:expired', ({ code }) => {
      if (RENEWABLE.has(code)) {
        void this.#renew().then((renewed) => renewed && this.#notify());
      } else {
        // Revoked (logged out elsewhere, password changed): refreshing would replay a dead token.
        setSignedInHint(false);
        this.onSignedOut?.();
      }
    });
  }

  async #connected(): Promise<void> {
    this.status = 'online';
    this.notice = null;
    // The access cookie expires with its token, so a handshake after a long sleep arrives as a
    // visitor's: renew first, then let the rooms take their snapshots (with the user's own part).
    if (accessTokenStale()) await this.#renew();
    this.#notify();
  }

  #notify(): void {
    for (const listener of this.#connectListeners) listener();
  }

  #renewing: Promise<boolean> | undefined;
  /** A fresh access token for this socket; false (and signed out) when the session is over. */
  #renew(): Promise<boolean> {
    this.#renewing ??= (async () => {
      try {
        let session;
        try {
          session = await refreshSession();
        } catch {
          return false; // offline or the server is busy: nothing is known about the session yet
        }
        const ack = session ? await this.request('auth', { token: session.accessToken }) : undefined;
        // Signed out only on a definite refusal (a lost link is not one).
        if (!session || (ack && !ack.ok && ack.code !== 'SERVICE_UNAVAILABLE')) this.onSignedOut?.();
        return ack?.ok === true;
      } finally {
        this.#renewing = undefined;
      }
    })();
    return this.#renewing;
  }

  /** After an action was refused with `code`: renews the session when that can help; true to retry. */
  async renewAfter(code: string): Promise<boolean> {
    return RENEWABLE.has(code) && hasSignedInHint() && (await this.#renew());
  }

  /**
   * Runs `listener` on every (re)connection, after a renewed session and when the database is back,
   * and now if already connected: the cue to take a fresh snapshot. Returns the unsubscribe.
   */
  onConnect(listener: () => void): () => void {
    this.#connectListeners.add(listener);
    if (this.socket.connected) listener();
    return () => this.#connectListeners.delete(listener);
  }

  /** Subscribes to server events; the returned function removes exactly these handlers. */
  on(handlers: Handlers): () => void {
    const entries = Object.entries(handlers) as [keyof ServerToClientEvents, (...args: unknown[]) => void][];
    for (const [event, handler] of entries) this.socket.on(event, handler as never);
    return () => {
      for (const [event, handler] of entries) this.socket.off(event, handler as never);
    };
  }

  /** Emits an event that takes an ack and resolves with it (a timeout or lost link is an error ack). */
  request<E extends keyof AckEvents>(event: E, ...payload: PayloadOf<E> extends undefined ? [] : [PayloadOf<E>]): Promise<Ack<AckEvents[E]>> {
    return this.requestWithin(ACK_TIMEOUT_MS, event, ...payload);
  }

  /** `request` with its own wait for the ack (a claim in a shuffled opening is answered when the opening ends). */
  requestWithin<E extends keyof AckEvents>(timeoutMs: number, event: E, ...payload: PayloadOf<E> extends undefined ? [] : [PayloadOf<E>]): Promise<Ack<AckEvents[E]>> {
    const sentAt = Date.now();
    return new Promise((resolve) => {
      const args: unknown[] = [...payload];
      (this.socket.timeout(timeoutMs).emit as (...a: unknown[]) => void)(event, ...args, (error: Error | null, ack: Ack<AckEvents[E]>) => {
        if (error) {
          resolve({ ok: false, code: 'SERVICE_UNAVAILABLE', message: 'No answer from the server. Check your connection and try again.' });
          return;
        }
        const serverNow = ack.ok ? (ack.data as { serverNow?: unknown } | null)?.serverNow : undefined;
        if (typeof serverNow === 'string') clock.sync(serverNow, sentAt);
        resolve(ack);
      });
    });
  }

  /** After signing in or out: a new handshake carries the new cookie. */
  reconnect(): void {
    this.socket.disconnect();
    this.status = 'connecting';
    this.socket.connect();
  }
}

let connection: Connection | undefined;

/** The page's connection, created on first use (only in the browser). */
export function getConnection(): Connection {
  connection ??= new Connection();
  return connection;
}
