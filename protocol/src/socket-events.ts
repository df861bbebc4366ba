import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import {
  adminReservationsViewSchema,
  claimViewSchema,
  claimedSchema,
  dropDetailViewSchema,
  dropViewSchema,
  errorIssueSchema,
  holdsExtendedSchema,
  joinedSchema,
  leftSchema,
  positionViewSchema,
  reservationViewSchema,
  streamEventSchema,
  waitlistEntryViewSchema,
  windowViewSchema,
} from './responses.ts';
import { dropRefSchema, extendHoldsPayloadSchema, joinPayloadSchema, windowActionPayloadSchema } from './schemas.ts';
import {
  WINDOW_EVENT_TYPES,
  authPayloadSchema,
  type AdminClientToServerEvents,
  type AdminServerToClientEvents,
  type ClientToServerEvents,
  type EventsServerToClientEvents,
  type ServerToClientEvents,
} from './events.ts';

/**
 * The Socket.IO events of each namespace as data: name, payload schema, ack schema and what each
 * means. The AsyncAPI document (GET /api/asyncapi.json) is generated from it, and the compile-time
 * checks at the bottom tie it to the typed event maps in events.ts that the server and client use,
 * so an event added there and not here (or the other way round) does not compile.
 */
export interface SocketEventDoc {
  summary: string;
  /** Absent: the event carries no payload (only an ack callback). */
  payload?: z.ZodType;
  /** Client → server events: the `data` of a successful ack (`{ok: true, data}`). */
  ack?: z.ZodType;
}

const instant = z.iso.datetime({ offset: true });
const expired = z.object({ code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]), message: z.string() });
const windowEvent = z.object({
  dropId: z.uuid(),
  type: z.enum(WINDOW_EVENT_TYPES),
  window: windowViewSchema.optional(),
  drop: dropViewSchema.optional(),
  at: instant,
  serverNow: instant,
});
const reservationEvent = z.object({
  dropId: z.string(),
  type: z.enum(['ranking.frozen', 'reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.passed', 'reservation.extended']),
  payload: z.record(z.string(), z.unknown()),
  at: instant,
});
const expiredDoc: SocketEventDoc = { summary: "The socket's credentials stopped working (sent before this namespace's socket is ended where it needs them).", payload: expired };

/** Every acknowledgement: `{ok: true, data}` or a refusal with the HTTP API's error codes. */
export const ackSchema = (data: z.ZodType) =>
  z.union([
    z.object({ ok: z.literal(true), data }),
    z.object({
      ok: z.literal(false),
      code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      issues: z.array(errorIssueSchema).optional(),
      retryAfter: z.number().optional().describe('seconds, after RATE_LIMITED'),
      extra: z.record(z.string(), z.unknown()).optional().describe("the problem's extension fields, e.g. `reservation` with NOT_YOUR_TURN"),
    }),
  ]);

const publicServer = {
  'drops:changed': { summary: 'To the lobby: a drop was created or changed.', payload: dropViewSchema },
  'drops:deleted': { summary: 'To the lobby: a drop was deleted.', payload: dropRefSchema },
  'drop:counts': {
    summary: 'To a drop room and the lobby: the latest numbers, at most one per drop per 100 ms; the last change always goes out.',
    payload: z.object({
      dropId: z.uuid(),
      totalSlots: z.number().int(),
      claimed: z.number().int(),
      remaining: z.number().int(),
      waitlistCount: z.number().int(),
      watchers: z.number().int(),
      serverNow: instant,
    }),
  },
  'drop:window': { summary: 'To a drop room (and /admin) at the instant a window opened, closed, was extended, paused, resumed, the drop was updated or deleted.', payload: windowEvent },
  'drop:gone': { summary: 'The drop went back to draft: this socket left its room and nothing more of it is sent.', payload: dropRefSchema },
  'drop:ranking': {
    summary: 'PRIORITY and DRAW: the ranking was frozen (the window opened); GET /api/drops/{id}/ranking reveals it.',
    payload: z.object({ dropId: z.uuid(), ranked: z.number().int(), commitment: z.string(), frozenAt: instant }),
  },
  'me:claim': { summary: "To the user's own sockets: their claim (issued, redeemed).", payload: claimViewSchema },
  'me:waitlist': { summary: "To the user's own sockets: joined (entry) or left (null), from any tab or device.", payload: z.object({ dropId: z.uuid(), entry: waitlistEntryViewSchema.nullable() }) },
  'me:position': { summary: "To the user's own sockets: their waitlist position changed.", payload: positionViewSchema },
  'me:reservation': { summary: 'PRIORITY and DRAW: your reservation or place in line changed.', payload: reservationViewSchema },
  'session:expired': expiredDoc,
  'server:shutdown': { summary: 'The server is stopping.', payload: z.object({ reason: z.string() }) },
  'server:status': { summary: 'The database went away (down) or came back (up); re-watch after up.', payload: z.object({ database: z.enum(['up', 'down']), serverNow: instant }) },
} satisfies Record<keyof ServerToClientEvents, SocketEventDoc>;

const publicClient = {
  auth: { summary: 'Sign this socket in (or again, with a fresh access token) without leaving any room.', payload: authPayloadSchema, ack: z.object({ userId: z.uuid().nullable(), role: z.enum(['USER', 'ADMIN']).nullable() }) },
  'drops:watch': { summary: 'Join the lobby: live drops:changed, drops:deleted and counts.', ack: z.object({ drops: z.array(dropViewSchema), serverNow: instant }) },
  'drops:unwatch': { summary: 'Leave the lobby.', ack: z.null() },
  'drop:watch': { summary: "Join a drop's room and get its snapshot.", payload: dropRefSchema, ack: z.object({ drop: dropDetailViewSchema, watchers: z.number().int(), serverNow: instant }) },
  'drop:unwatch': { summary: "Leave a drop's room.", payload: dropRefSchema, ack: z.null() },
  'drop:join': { summary: "Join a drop's waitlist (as POST /api/drops/{id}/join).", payload: joinPayloadSchema, ack: joinedSchema },
  'drop:leave': { summary: "Leave a drop's waitlist (as POST /api/drops/{id}/leave).", payload: dropRefSchema, ack: leftSchema },
  'drop:claim': { summary: 'Claim a slot (as POST /api/drops/{id}/claim).', payload: dropRefSchema, ack: claimedSchema },
} satisfies Record<keyof ClientToServerEvents, SocketEventDoc>;

const adminServer = {
  'drop:window': publicServer['drop:window'],
  'drop:reservations': { summary: "Every PRIORITY or DRAW line event (the stream's ranking.frozen and reservation.* types).", payload: reservationEvent },
  'session:expired': expiredDoc,
} satisfies Record<keyof AdminServerToClientEvents, SocketEventDoc>;

const adminClient = {
  'window:action': { summary: 'open-now, close-now, extend, pause or resume (as POST /api/admin/drops/{id}/window).', payload: windowActionPayloadSchema, ack: dropViewSchema },
  'reservations:list': { summary: "A line's reservations (as GET /api/admin/drops/{id}/reservations).", payload: dropRefSchema, ack: adminReservationsViewSchema },
  'holds:extend': { summary: 'Add time to every open hold of a drop.', payload: extendHoldsPayloadSchema, ack: holdsExtendedSchema },
} satisfies Record<keyof AdminClientToServerEvents, SocketEventDoc>;

const eventsServer = {
  event: { summary: 'One domain event, in publication order: replayed after auth.lastEventId first, then live.', payload: streamEventSchema },
  'stream:error': {
    summary: 'Sent before the server ends the socket when the stream cannot go on without a gap (EVENTS_EXPIRED: the events it still needed were pruned).',
    payload: expired.extend({ oldestEventId: z.number().int().optional().describe('the oldest event id still kept') }),
  },
  'session:expired': expiredDoc,
} satisfies Record<keyof EventsServerToClientEvents, SocketEventDoc>;

export interface NamespaceDoc {
  description: string;
  /** What the handshake's `auth` may carry. */
  auth: z.ZodType;
  /** Events the server sends. */
  send: Record<string, SocketEventDoc>;
  /** Events the server handles (each answered by an ack). */
  receive: Record<string, SocketEventDoc>;
}

export const SOCKET_NAMESPACES: Record<'/' | '/admin' | '/events', NamespaceDoc> = {
  '/': {
    description: 'Anyone. `auth.token` (or the ds_access cookie) signs the socket in; a bad token leaves it a visitor and sends session:expired.',
    auth: z.object({ token: z.string().optional() }),
    send: publicServer,
    receive: publicClient,
  },
  '/admin': {
    description: 'ADMIN access token only (connect_error data.code UNAUTHENTICATED or FORBIDDEN otherwise); re-checked every 5 s.',
    auth: z.object({ token: z.string() }),
    send: adminServer,
    receive: adminClient,
  },
  '/events': {
    description:
      'An ADMIN access token or an API token (dsk_…); auth.lastEventId resumes the ordered, gap-free stream (connect_error data.code EVENTS_EXPIRED when it is older than the events kept; without it, from the oldest kept).',
    auth: z.object({ token: z.string(), lastEventId: z.number().int().min(0).optional() }),
    send: eventsServer,
    receive: {},
  },
};

// --- The payloads agree with the typed event maps (compile-time). ---
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type FirstArg<F> = F extends (first: infer P, ...rest: never[]) => void ? P : never;
type Payloads<M, D extends { [K in keyof M]: SocketEventDoc }> = {
  [K in keyof M]: D[K] extends { payload: z.ZodType } ? Same<z.output<D[K]['payload']>, FirstArg<M[K]>> : true;
}[keyof M];
const payloadsAgree = <T extends true>(ok: T) => ok;
payloadsAgree<Payloads<ServerToClientEvents, typeof publicServer>>(true);
payloadsAgree<Payloads<AdminServerToClientEvents, typeof adminServer>>(true);
payloadsAgree<Payloads<EventsServerToClientEvents, typeof eventsServer>>(true);
payloadsAgree<Payloads<ClientToServerEvents, typeof publicClient>>(true);
payloadsAgree<Payloads<AdminClientToServerEvents, typeof adminClient>>(true);
