import type { Namespace, Server, Socket } from 'socket.io';
import type {
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  ClientToServerEvents,
  EventsServerToClientEvents,
  ServerToClientEvents,
  StreamEvent,
} from '@dropspot/protocol';
import type { EndedSession } from '../modules/auth/auth.service.ts';
import type { AuthContext } from '../types.d.ts';

/** What the server remembers about a socket. */
export interface SocketData {
  auth?: AuthContext;
  token?: string;
  /** `/events` sockets signed in with an API token. */
  apiTokenId?: string;
  /** `/events`: where the stream resumes (from the handshake). */
  lastEventId?: number;
}

/** What the processes tell each other through the Redis adapter. */
export interface InterServerEvents {
  /** How many of this process's sockets watch the drop (the reply adds up to the watcher count). */
  'room-size': (dropId: string, reply: (size: number) => void) => void;
  /** Places in the drop's waitlist moved: push them to this process's watchers. */
  'positions-dirty': (dropId: string) => void;
  /** The drop's PRIORITY line changed: read its next instant again. */
  'line-changed': (dropId: string) => void;
  /** The drop's window changed: read its instants again. */
  'window-changed': (dropId: string) => void;
  /** Sessions signed out elsewhere: forget them here too. */
  'sessions-ended': (sessions: EndedSession[]) => void;
  /** A published event, for this process's `/events` subscribers. */
  stream: (event: StreamEvent) => void;
}

/**
 * One Socket.IO server carries three namespaces; `io.of()` cannot give each its own event types,
 * so the server is typed with all of them. Each namespace module only handles and emits its own.
 */
export type ListenEvents = ClientToServerEvents & AdminClientToServerEvents;
type EmitEvents = ServerToClientEvents & AdminServerToClientEvents & EventsServerToClientEvents;

export type IoServer = Server<ListenEvents, EmitEvents, InterServerEvents, SocketData>;
export type IoNamespace = Namespace<ListenEvents, EmitEvents, InterServerEvents, SocketData>;
export type IoSocket = Socket<ListenEvents, EmitEvents, InterServerEvents, SocketData>;
/** Namespace middleware. */
export type Middleware = (socket: IoSocket, next: (error?: Error) => void) => void;

/** Socket limits and intervals (lowered by tests). */
export interface RealtimeLimits {
  /** Events all the sockets of one account may send per second before they get RATE_LIMITED acks. */
  eventsPerSecond: number;
  /** The same for all the visitors' sockets of one address. */
  eventsPerIpPerSecond: number;
  /** Refused events within a minute after which the socket is disconnected as a flood. */
  floodStrikes: number;
  maxPayloadBytes: number;
  countIntervalMs: number;
  /** The longest a change in a drop's watcher number alone waits for its counts message (joins and leaves). */
  watcherCountIntervalMs: number;
  positionIntervalMs: number;
  drainMs: number;
  /** How often the database is checked, so sockets hear at once when it goes away or comes back. */
  databaseCheckMs: number;
}

export const DEFAULT_LIMITS: Omit<RealtimeLimits, 'eventsPerSecond' | 'eventsPerIpPerSecond'> = {
  floodStrikes: 60,
  maxPayloadBytes: 16 * 1024,
  countIntervalMs: 100,
  watcherCountIntervalMs: 1000,
  positionIntervalMs: 1000,
  drainMs: 10_000,
  databaseCheckMs: 2000,
};
