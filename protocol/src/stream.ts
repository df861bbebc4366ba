/** Domain event types written to the outbox; the stream carries them in order. */
export const DOMAIN_EVENT_TYPES = [
  'drop.created',
  'drop.updated',
  'drop.deleted',
  'window.opened',
  'window.closed',
  'window.extended',
  'window.paused',
  'window.resumed',
  'waitlist.joined',
  'waitlist.left',
  'claim.issued',
  'claim.redeemed',
  /** A claim gone with its account: the slot is free again (payload: claimId, claimed, remaining). */
  'claim.released',
  /** PRIORITY: the window opened, the waitlist closed and the ranking was frozen and revealed. */
  'ranking.frozen',
  /** A reservation was granted to a user (at the freeze or by backfill); payload has the ReservationView. */
  'reservation.granted',
  /** A hold ran out unclaimed. */
  'reservation.expired',
  /** The holder (or a waiting user) left the waitlist. */
  'reservation.released',
  /** An expired or released reservation went to the next user in line: { from, to }. */
  'reservation.passed',
  /** An admin added time to every open hold. */
  'reservation.extended',
  /** FCFS with a shuffled opening: the claims of the interval were served in draw order; the order is revealed. */
  'opening.shuffled',
] as const;
export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number];

export interface StreamEvent {
  /** Increasing publication sequence: reconnect with the last one seen to get what was missed. */
  id: number;
  type: DomainEventType;
  dropId: string | null;
  at: string;
  payload: Record<string, unknown>;
}
