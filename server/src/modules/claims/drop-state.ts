import type { EntityManager } from '@mikro-orm/postgresql';
import type { AllocationMode } from '@dropspot/protocol';
import { DomainError } from '../../domain/errors.ts';

/** What a claim is judged by: the drop's row, read with the database clock after the row lock. */
export interface DropStateRow {
  title: string;
  allocation_mode: AllocationMode;
  now: Date;
  total_slots: number;
  claimed: number;
  is_active: boolean;
  paused: boolean;
  started: boolean;
  ended: boolean;
  /** FCFS with a shuffled opening whose claims are not served yet: `opening_ends` is when they will be. */
  opening_pending: boolean;
  opening_ends: Date | null;
  /** Before `opening_ends`: a claim now is collected for the shuffle, not served. */
  in_opening: boolean;
}

/**
 * Locks the drop's row for a claim. Both claim paths (a batch and a single claim) lock it before
 * anything else, so they never deadlock each other; NO KEY UPDATE leaves waitlist joins free, and
 * a stuck row (a session idle in a transaction) fails after 5 s instead of holding the queue.
 */
export async function lockDropForClaim(em: EntityManager, dropId: string): Promise<void> {
  await em.execute(`set local lock_timeout = '5s'`);
  await em.execute('select 1 from "drop" where id = ? for no key update', [dropId]);
}

/** The drop's state now: call after `lockDropForClaim`, so a claim that waited is judged when it got the row. */
export async function readDropState(em: EntityManager, dropId: string): Promise<DropStateRow | undefined> {
  const [row] = await em.execute<DropStateRow[]>(
    `select title, allocation_mode, total_slots, claimed, is_active, paused_at is not null as paused, clock_timestamp() as now,
            claim_window_start <= clock_timestamp() as started, clock_timestamp() >= claim_window_end as ended,
            opening_shuffle_seconds is not null and opening_settled_at is null as opening_pending,
            claim_window_start + make_interval(secs => opening_shuffle_seconds) as opening_ends,
            coalesce(clock_timestamp() < claim_window_start + make_interval(secs => opening_shuffle_seconds), false) as in_opening
       from "drop" where id = ?`,
    [dropId],
  );
  return row;
}

/** Why no slot can be taken, in the order clients see the reasons; undefined when one can. */
export function refusalFor(row: DropStateRow | undefined): DomainError | undefined {
  if (!row || !row.is_active) return new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
  if (!row.started) return new DomainError('WINDOW_NOT_OPEN', 'The claim window has not opened yet.');
  if (row.ended) return new DomainError('WINDOW_CLOSED', 'The claim window has closed.');
  if (row.paused) return new DomainError('WINDOW_PAUSED', 'Claims are paused for this drop; stay on the page.');
  if (row.claimed >= row.total_slots) return new DomainError('SOLD_OUT', 'Every slot has been claimed.');
  return undefined;
}
