import type { EntityManager } from '@mikro-orm/postgresql';
import type { Selectable } from 'kysely';
import type { ReservationView } from '@dropspot/protocol';
import { clockText, countInt, db, type Database } from '../../db/kysely.ts';
import { DomainError } from '../../domain/errors.ts';

/** A place in a PRIORITY line as the line's statements read it back (`LINE_COLUMNS`). */
export const LINE_COLUMNS = ['user as userId', 'rank', 'status', 'grantedAt', 'expiresAt'] as const;
export type LineRow = Pick<Selectable<Database['reservation']>, 'rank' | 'status' | 'grantedAt' | 'expiresAt'> & { userId: string };

/** The numbers every view of a line carries, read with the database clock. */
export type LineTotals = Awaited<ReturnType<typeof lineTotals>>;

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

export const iso = (value: Date | null) => (value ? value.toISOString() : null);

export function toView(dropId: string, row: LineRow, waitingAhead: number, totals: LineTotals): ReservationView {
  return {
    dropId,
    rank: row.rank,
    status: row.status,
    grantedAt: iso(row.grantedAt),
    expiresAt: row.status === 'GRANTED' ? iso(row.expiresAt) : null,
    holdSeconds: totals.holdSeconds,
    waitingAhead: row.status === 'WAITING' ? waitingAhead : 0,
    openReservations: totals.open,
    remaining: totals.remaining,
    serverNow: new Date(totals.now).toISOString(),
  };
}

export async function lineTotals(em: EntityManager, dropId: string) {
  const row = await db(em)
    .selectFrom('drop as d')
    .select((eb) => [
      eb.selectFrom('reservation as held').select(countInt.as('n')).whereRef('held.drop', '=', 'd.id').where('held.status', '=', 'GRANTED').as('open'),
      eb('d.totalSlots', '-', eb.ref('d.claimed')).as('remaining'),
      'd.holdSeconds',
      clockText.as('now'),
    ])
    .where('d.id', '=', dropId)
    .executeTakeFirst();
  if (!row) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
  return { open: row.open ?? 0, remaining: row.remaining, holdSeconds: row.holdSeconds, now: row.now };
}
