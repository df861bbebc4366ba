import { z } from 'zod';
import type { ErrorCode, ErrorIssue } from './errors.ts';
import type { DropRef, ExtendHoldsPayload, JoinPayload, WindowActionPayload } from './schemas.ts';
import type { StreamEvent } from './stream.ts';
import type { AdminReservationsView, ClaimView, DropDetailView, DropView, PositionView, ReservationView, WaitlistEntryView, WindowView } from './types.ts';

/** Every acknowledgement: the same codes as HTTP problem+json. */
export type Ack<T> =
  | { ok: true; data: T }
  /**
   * `retryAfter`: seconds to wait after RATE_LIMITED. `extra`: the same extension fields as the
   * problem+json (e.g. `reservation` with NOT_YOUR_TURN).
   */
  | { ok: false; code: ErrorCode; message: string; issues?: ErrorIssue[]; retryAfter?: number; extra?: Record<string, unknown> };
export type AckFn<T> = (ack: Ack<T>) => void;


export const authPayloadSchema = z.strictObject({ token: z.string().min(1).max(4096) });

/** What admins hear about a PRIORITY drop's line: the stream event as it was published. */
export interface ReservationEvent {
  dropId: string;
  type: 'ranking.frozen' | 'reservation.granted' | 'reservation.expired' | 'reservation.released' | 'reservation.passed' | 'reservation.extended';
  payload: Record<string, unknown>;
  at: string;
}

export const WINDOW_EVENT_TYPES = ['opened', 'closed', 'extended', 'paused', 'resumed', 'updated', 'deleted'] as const;
export type WindowEventType = (typeof WINDOW_EVENT_TYPES)[number];

/** Live numbers of one drop, pushed at most every 100 ms per room, always the latest values. */
export interface DropCounts {
  dropId: string;
  totalSlots: number;
  claimed: number;
  remaining: number;
  waitlistCount: number;
  watchers: number;
  serverNow: string;
}

export interface DropSnapshot {
  drop: DropDetailView;
  watchers: number;
  serverNow: string;
}

export interface WindowEvent {
  dropId: string;
  type: WindowEventType;
  /** Absent for `deleted`. */
  window?: WindowView;
  drop?: DropView;
  at: string;
  serverNow: string;
}

export interface SessionInfo {
  userId: string | null;
  role: 'USER' | 'ADMIN' | null;
}

/** Default namespace: visitors and signed-in users. */
export interface ServerToClientEvents {
  'drops:changed': (drop: DropView) => void;
  'drops:deleted': (payload: DropRef) => void;
  'drop:counts': (counts: DropCounts) => void;
  'drop:window': (event: WindowEvent) => void;
  /** The drop went back to draft: nothing of it is shown any more, and this socket left its room. */
  'drop:gone': (payload: DropRef) => void;
  /** PRIORITY: the window opened and the ranking was frozen: GET /api/drops/:id/ranking now reveals it. */
  'drop:ranking': (event: { dropId: string; ranked: number; commitment: string; frozenAt: string }) => void;
  'me:claim': (claim: ClaimView) => void;
  /** Joined or left (from any tab or device); the position follows in `me:position`. */
  'me:waitlist': (payload: { dropId: string; entry: WaitlistEntryView | null }) => void;
  'me:position': (position: PositionView) => void;
  /** PRIORITY drops: your reservation or place in line changed (granted, expired, released, claimed, or the line moved). */
  'me:reservation': (reservation: ReservationView) => void;
  'session:expired': (payload: { code: ErrorCode; message: string }) => void;
  'server:shutdown': (payload: { reason: string }) => void;
  /** The database went away or came back; after `up`, re-watch to re-sync the numbers. */
  'server:status': (status: { database: 'up' | 'down'; serverNow: string }) => void;
}

export interface ClientToServerEvents {
  auth: (payload: { token: string }, ack: AckFn<SessionInfo>) => void;
  'drops:watch': (ack: AckFn<{ drops: DropView[]; serverNow: string }>) => void;
  'drops:unwatch': (ack?: AckFn<null>) => void;
  'drop:watch': (payload: DropRef, ack: AckFn<DropSnapshot>) => void;
  'drop:unwatch': (payload: DropRef, ack?: AckFn<null>) => void;
  'drop:join': (payload: JoinPayload, ack: AckFn<{ entry: WaitlistEntryView & { position: number }; created: boolean }>) => void;
  'drop:leave': (payload: DropRef, ack: AckFn<{ left: boolean }>) => void;
  'drop:claim': (payload: DropRef, ack: AckFn<{ claim: ClaimView; created: boolean }>) => void;
}

/** `/admin`: ADMIN role only. */
export interface AdminServerToClientEvents {
  'drop:window': (event: WindowEvent) => void;
  'drop:reservations': (event: ReservationEvent) => void;
  /** Sent just before the server ends this namespace's socket (the connection's other namespaces stay). */
  'session:expired': (payload: { code: ErrorCode; message: string }) => void;
}
export interface AdminClientToServerEvents {
  'window:action': (payload: WindowActionPayload, ack: AckFn<DropView>) => void;
  /** A PRIORITY drop's whole line (as GET /api/admin/drops/:id/reservations); live changes follow as `drop:reservations`. */
  'reservations:list': (payload: DropRef, ack: AckFn<AdminReservationsView>) => void;
  /** Adds `seconds` to every open hold of the drop; answers how many holds were extended. */
  'holds:extend': (payload: ExtendHoldsPayload, ack: AckFn<{ extended: number }>) => void;
}

/** `/events`: an admin access token or an API token; `auth.lastEventId` resumes the stream. */
export interface EventsServerToClientEvents {
  event: (event: StreamEvent) => void;
  /** Sent before the server ends the socket when the stream cannot go on without a gap (`EVENTS_EXPIRED`: the events it still needed were pruned). */
  'stream:error': (payload: { code: ErrorCode; message: string; oldestEventId?: number }) => void;
  /** Sent just before the server ends this namespace's socket (the connection's other namespaces stay). */
  'session:expired': (payload: { code: ErrorCode; message: string }) => void;
}
export type EventsClientToServerEvents = Record<string, never>;
