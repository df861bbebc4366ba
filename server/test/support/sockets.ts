import { vi } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '@dropspot/protocol';

const open: Socket[] = [];

/** A real socket.io-client connection (WebSocket only unless `transports` says otherwise); closed by `closeSockets()` after each test file. */
export function connect(
  baseUrl: string,
  options: { namespace?: string; auth?: Record<string, unknown>; headers?: Record<string, string>; transports?: ('websocket' | 'polling')[] } = {},
): Socket {
  const socket = io(baseUrl + (options.namespace ?? '/'), {
    transports: options.transports ?? ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: options.auth ?? {},
    extraHeaders: options.headers,
  });
  open.push(socket);
  return socket;
}

export async function connected(socket: Socket): Promise<Socket> {
  if (socket.connected) return socket;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
  return socket;
}

/** The handshake refusal's stable code (`err.data.code`). */
export function refusal(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, but a refusal was expected')));
    socket.once('connect_error', (error: Error & { data?: { code?: string } }) => resolve(error.data?.code ?? error.message));
  });
}

export function request<T = any>(socket: Socket, event: string, payload?: unknown): Promise<Ack<T>> {
  return new Promise((resolve) => {
    if (payload === undefined) socket.emit(event, (ack: Ack<T>) => resolve(ack));
    else socket.emit(event, payload, (ack: Ack<T>) => resolve(ack));
  });
}

/** The next `event` whose payload satisfies `match`, or a rejection after `timeoutMs`. */
export function next<T = any>(socket: Socket, event: string, match: (payload: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no matching "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (payload: T) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(payload);
    };
    socket.on(event, listener);
  });
}

/** Collects every `event` from now on. */
export function collect<T = any>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

export function closeSockets(): void {
  for (const socket of open.splice(0)) socket.close();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads until `ok` accepts the value (polling), then returns it; the last value is in the failure. */
export function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!ok(value)) throw new Error(`not yet: ${JSON.stringify(value).slice(0, 500)}`);
      return value;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}
