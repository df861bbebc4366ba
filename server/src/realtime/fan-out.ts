import type { DomainEventType, DropView, ReservationEvent, ReservationView, ClaimView, WaitlistEntryView, WindowEvent, WindowEventType } from '@dropspot/protocol';
import { toPublicEvent } from '../modules/events/event.service.ts';
import type { PublishedEvent } from '../modules/events/stream-event.ts';
import type { RoomRegistry } from './room-registry.ts';
import { LOBBY, dropRoom, userRoom } from './rooms.ts';
import type { IoNamespace, InterServerEvents } from './types.ts';

/** What one process tells the others about a drop (see `InterServerEvents`). */
export type DropSignal = Extract<keyof InterServerEvents, 'positions-dirty' | 'line-changed' | 'window-changed'>;

/** What fan-out needs from the composer: where to emit, the rooms, and the other processes. */
export interface FanOutDeps {
  /** The default namespace (this process only while Redis is down). */
  rooms: () => Pick<IoNamespace, 'to' | 'in'>;
  /** `/admin` (this process only while Redis is down). */
  admins: () => Pick<IoNamespace, 'emit'>;
  registry: RoomRegistry;
  /** Tells the other processes (a no-op without Redis, or while it is down or closing). */
  broadcast: (event: DropSignal, dropId: string) => void;
  /** Hands the public event to the `/events` subscribers of every process. */
  stream: (event: ReturnType<typeof toPublicEvent>) => void;
  warn: (error: unknown, what: string) => void;
}

/** One thing a published event causes. `dropId` is the event's drop (actions run only for events that have one). */
type Action = (event: PublishedEvent, dropId: string, deps: FanOutDeps) => void;

const drop = (event: PublishedEvent) => event.payload.drop as DropView | undefined;

const windowMessage =
  (type: WindowEventType): Action =>
  (event, dropId, { rooms, admins }) => {
    const view = drop(event);
    const message: WindowEvent = { dropId, type, ...(view ? { drop: view, window: view.window } : {}), at: event.at, serverNow: new Date().toISOString() };
    if (view && !view.isActive) {
      // Back to draft: its watchers learn only that it is gone and leave the room (on every
      // process), so none of the draft's content or later edits reach them; admins see everything.
      rooms().to(dropRoom(dropId)).emit('drop:gone', { dropId });
      rooms().in(dropRoom(dropId)).socketsLeave(dropRoom(dropId));
    } else {
      rooms().to(dropRoom(dropId)).emit('drop:window', message);
    }
    admins().emit('drop:window', message);
  };

/** The lobby's list: drafts and deleted drops leave it, every other change replaces the entry. */
const lobby: Action = (event, dropId, { rooms }) => {
  const view = drop(event);
  if (event.type === 'drop.deleted' || (view && !view.isActive)) rooms().to(LOBBY).emit('drops:deleted', { dropId });
  else if (view) rooms().to(LOBBY).emit('drops:changed', view);
};

const reloadWindow: Action = (_event, dropId, { registry, broadcast, warn }) => {
  void registry.room(dropId)?.reloadWindow().catch((error: unknown) => warn(error, 'scheduler reload failed'));
  broadcast('window-changed', dropId);
};

const reloadLine: Action = (_event, dropId, { registry, broadcast, warn }) => {
  void registry.room(dropId)?.reloadLine().catch((error: unknown) => warn(error, 'line scheduler reload failed'));
  broadcast('line-changed', dropId);
};

const forget: Action = (_event, dropId, { registry }) => registry.delete(dropId);

/** A claim that took the last slot is urgent: "sold out" reaches every screen without a huge room's pause. */
const counts: Action = (event, dropId, { registry }) => registry.room(dropId)?.markCounts(event.type === 'claim.issued' && event.payload.remaining === 0);

/** Places in line move with joins and leaves, and in a PRIORITY line with every grant, expiry and claim. */
const positions: Action = (_event, dropId, { registry, broadcast }) => {
  registry.room(dropId)?.markPositions();
  broadcast('positions-dirty', dropId);
};

/** A line event: admins hear it, and the drop's claims now move the line too. */
const lineForAdmins: Action = (event, dropId, { admins, registry }) => {
  const room = registry.room(dropId);
  if (room) room.priority = true;
  const message: ReservationEvent = { dropId, type: event.type as ReservationEvent['type'], payload: event.payload, at: event.at };
  admins().emit('drop:reservations', message);
};

const ranking: Action = (event, dropId, { rooms }) => {
  rooms().to(dropRoom(dropId)).emit('drop:ranking', event.payload as { dropId: string; ranked: number; commitment: string; frozenAt: string });
};

const claimInLine: Action = (event, dropId, deps) => {
  if (deps.registry.room(dropId)?.priority) positions(event, dropId, deps);
};

/** Personal events go to the user's own sockets, on every process. */
type Target = ReturnType<IoNamespace['to']>;
const personal =
  (emit: (to: Target, event: PublishedEvent, dropId: string) => void): Action =>
  (event, dropId, { rooms }) => {
    if (event.userId) emit(rooms().to(userRoom(event.userId)), event, dropId);
  };
const myReservation = personal((to, event) => to.emit('me:reservation', event.payload.reservation as ReservationView));
const myClaim = personal((to, event) => to.emit('me:claim', event.payload.claim as ClaimView));
const myWaitlist = personal((to, event, dropId) =>
  to.emit('me:waitlist', { dropId, entry: event.type === 'waitlist.joined' ? (event.payload.entry as WaitlistEntryView) : null }),
);

const windowChange = (type: WindowEventType): Action[] => [windowMessage(type), lobby, reloadWindow, reloadLine];
const lineChange = (...more: Action[]): Action[] => [reloadLine, lineForAdmins, ...more, positions];

/**
 * What each published event causes, in order. Every event also goes to the `/events` stream
 * first. (A drop sent back to draft is a `drop.updated` whose drop is inactive: `windowMessage`
 * and `lobby` tell the public it is gone.)
 */
export const FAN_OUT: Record<DomainEventType, Action[]> = {
  'drop.created': [lobby, reloadWindow, reloadLine],
  'drop.updated': windowChange('updated'),
  'drop.deleted': [...windowChange('deleted'), forget],
  'window.opened': windowChange('opened'),
  'window.closed': windowChange('closed'),
  'window.extended': windowChange('extended'),
  'window.paused': windowChange('paused'),
  'window.resumed': windowChange('resumed'),
  'waitlist.joined': [counts, positions, myWaitlist],
  'waitlist.left': [counts, positions, myWaitlist],
  'claim.issued': [counts, claimInLine, myClaim],
  'claim.redeemed': [myClaim],
  'claim.released': [counts],
  'ranking.frozen': lineChange(ranking),
  'reservation.granted': lineChange(myReservation),
  'reservation.expired': lineChange(myReservation),
  'reservation.released': lineChange(myReservation),
  'reservation.passed': lineChange(),
  'reservation.extended': lineChange(myReservation),
  // A shuffled opening served: its room re-syncs (the order is published), the timer is done.
  'opening.shuffled': [ranking, reloadLine, counts],
};

/** Sends published events where they belong, after commit. */
export function fanOut(events: PublishedEvent[], deps: FanOutDeps): void {
  for (const event of events) {
    deps.stream(toPublicEvent(event));
    if (!event.dropId) continue;
    for (const action of FAN_OUT[event.type]) action(event, event.dropId, deps);
  }
}
