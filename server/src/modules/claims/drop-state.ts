import type { EntityManager } from '@mikro-orm/postgresql';
import type { AllocationMode } from '@dropspot/protocol';
import { DomainError } from '../../domain/errors.ts';

// The claim engine's statements are written by hand (here and in claim-batcher.ts): they run once
// per claim group on the hot path of a claim storm, one multi-row statement per batch, and the
// claim storm benchmark (BENCHMARKS.md) is what they are tuned against. Their rows are named in
// camelCase by the SQL itself; everything else reads the database through db/kysely.ts.

/** What a claim is judged by: the drop's row, read with the database clock after the row lock. */
export interface DropStateRow {
  title: string;
  allocationMode: AllocationMode;
  /** `clock_timestamp()` as PostgreSQL's text (a computed instant is not converted). */
  now: string;
  totalSlots: number;
  claimed: number;
  isActive: boolean;
  paused: boolean;
  started: boolean;
  ended: boolean;
  /** FCFS with a shuffled opening whose claims are not served yet: `openingEnds` is when they will be. */
  openingPending: boolean;
  openingEnds: Date | null;
  /** Before `openingEnds`: a claim now is collected for the shuffle, not served. */
  inOpening: boolean;
}

/**
 * Locks the drop's row for a claim. Both claim paths (a batch and a single claim) lock it before
 * anything else, so they never deadlock each other; NO KEY UPDATE leaves waitlist joins free, and
 * a stuck row (a session idle in a transaction) fails after 5 s instead of holding the queue.
 */
export async function lockDropForClaim(em: EntityManager, dropId: string): Promise<void> {
  // A SET statement, which no query builder writes.
  await em.execute(`set local lock_timeout = '5s'`);
  await em.execute('select 1 from "drop" where id = ? for no key update', [dropId]);
}

/** The drop's state now: call after `lockDropForClaim`, so a claim that waited is judged when it got the row. */
export async function readDropState(em: EntityManager, dropId: string): Promise<DropStateRow | undefined> {
  const [row] = await em.execute<DropStateRow[]>(
    `select title, allocation_mode as "allocationMode", total_slots as "totalSlots", claimed, is_active as "isActive",
            paused_at is not null as paused, clock_timestamp() as now,
            claim_window_start <= clock_timestamp() as started, clock_timestamp() >= claim_window_end as ended,
            opening_shuffle_seconds is not null and opening_settled_at is null as "openingPending",
            claim_window_start + make_interval(secs => opening_shuffle_seconds) as "openingEnds",
            coalesce(clock_timestamp() < claim_window_start + make_interval(secs => opening_shuffle_seconds), false) as "inOpening"
       from "drop" where id = ?`,
    [dropId],
  );
  return row;
}

/** Why no slot can be taken, in the order clients see the reasons; undefined when one can. */
export function refusalFor(row: DropStateRow | undefined): DomainError | undefined {
  if (!row || !row.isActive) return new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
  if (!row.started) return new DomainError('WINDOW_NOT_OPEN', 'The claim window has not opened yet.');
  if (row.ended) return new DomainError('WINDOW_CLOSED', 'The claim window has closed.');
  if (row.paused) return new DomainError('WINDOW_PAUSED', 'Claims are paused for this drop; stay on the page.');
  if (row.claimed >= row.totalSlots) return new DomainError('SOLD_OUT', 'Every slot has been claimed.');
  return undefined;
}
