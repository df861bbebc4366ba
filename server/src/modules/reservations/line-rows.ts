import type { EntityManager } from '@mikro-orm/postgresql';
import type { ReservationStatus, ReservationView } from '@dropspot/protocol';
import { DomainError } from '../../domain/errors.ts';

/** The rows and totals of a PRIORITY line, and how a row becomes a user's view of their place in it. */
export interface LineRow {
  user_id: string;
  rank: number;
  status: ReservationStatus;
  granted_at: Date | null;
  expires_at: Date | null;
}

export interface LineTotals {
  open: number;
  remaining: number;
  hold_seconds: number;
  now: Date;
}

/** A reservation that was given up in this transaction and is to be passed on. */
export interface Freed {
  userId: string;
  rank: number;
  reason: 'expired' | 'released';
}

/** Up to this many users, places in line are counted one by one; beyond, in one pass over the line. */
export const FEW_USERS = 32;

/** Rows per multi-row insert: PostgreSQL takes at most 65,535 parameters per statement. */
const INSERT_CHUNK = 1000;

export async function inChunks<T>(rows: T[], insert: (part: T[]) => Promise<unknown>): Promise<void> {
  for (let from = 0; from < rows.length; from += INSERT_CHUNK) await insert(rows.slice(from, from + INSERT_CHUNK));
}

export const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null);

export function toView(dropId: string, row: LineRow, waitingAhead: number, totals: LineTotals): ReservationView {
  return {
    dropId,
    rank: row.rank,
    status: row.status,
    grantedAt: iso(row.granted_at),
    expiresAt: row.status === 'GRANTED' ? iso(row.expires_at) : null,
    holdSeconds: totals.hold_seconds,
    waitingAhead: row.status === 'WAITING' ? waitingAhead : 0,
    openReservations: totals.open,
    remaining: totals.remaining,
    serverNow: new Date(totals.now).toISOString(),
  };
}

export async function lineTotals(em: EntityManager, dropId: string): Promise<LineTotals> {
  const [row] = await em.execute<LineTotals[]>(
    `select (select count(*)::int from "reservation" where drop_id = d.id and status = 'GRANTED') as open,
            d.total_slots - d.claimed as remaining, d.hold_seconds, clock_timestamp() as now
       from "drop" d where d.id = ?`,
    [dropId],
  );
  if (!row) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
  return row;
}
