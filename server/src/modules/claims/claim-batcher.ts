import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type ClaimView } from '@dropspot/protocol';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/failures.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import type { EventNotifier } from '../events/outbox.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';
import { issueClaims, type ClaimOutcome } from './claim-insert.ts';
import { lockDropForClaim, refusalFor } from './drop-state.ts';
import { CollectedForOpening, type OpeningShuffle } from './opening-shuffle.ts';

export type { ClaimOutcome };

interface Waiter {
  userId: string;
  resolve: (outcome: ClaimOutcome) => void;
  reject: (error: unknown) => void;
}

interface DropQueue {
  waiting: Waiter[];
  timer: NodeJS.Timeout | undefined;
  flushing: boolean;
}

/** Claims waiting for one drop beyond this are refused at once (503, retry) instead of queueing without end. */
const MAX_WAITING = 20_000;

/**
 * Group commit for claims. Claims for the same drop that arrive within `windowMs` (or until
 * `maxBatch` are waiting) share one unit-of-work transaction: lock the drop's row, one counter
 * update for all of them, one multi-row insert of claims and outbox events, one commit. Each
 * caller is answered only after that commit. The rules are the same as for a single claim:
 * waitlisted users only, inside the window, never more than the slots (the counter's CHECK still
 * guards), one claim per user (the unique index still guards), a second claim returns the first.
 * While one batch commits, the next one gathers, so a storm becomes a few large transactions.
 * Its statements stay hand-written SQL (see drop-state.ts): one of each per batch on the claim
 * storm's hot path, tuned against its benchmark.
 */
export function createClaimBatcher(deps: {
  orm: Orm;
  notifier: EventNotifier;
  /** Single-claim path, used when a batch collides with another process's claim for the same user. */
  claimOne: (userId: string, dropId: string) => Promise<ClaimOutcome>;
  /** PRIORITY drops: who holds a live reservation (checked in the batch's transaction). */
  line: Pick<ReservationService, 'admit' | 'markClaimed'>;
  /** FCFS drops with a shuffled opening: collects the interval's claims and serves them in draw order. */
  opening: Pick<OpeningShuffle, 'gate' | 'collectLocked' | 'outcomes'>;
  windowMs?: number;
  maxBatch?: number;
  /** Told each group's size as it commits (metrics). */
  onBatch?: (size: number) => void;
}) {
  const { orm, notifier } = deps;
  const windowMs = deps.windowMs ?? 2;
  const maxBatch = deps.maxBatch ?? 250;
  const queues = new Map<string, DropQueue>();
  /** Claims collected for a shuffled opening, per drop, answered when its interval ends. */
  const parked = new Map<string, { waiters: Waiter[]; timer: NodeJS.Timeout }>();

  async function commitBatch(em: EntityManager, dropId: string, userIds: string[], seen: { priority: boolean }): Promise<Map<string, ClaimOutcome | Error>> {
    const results = new Map<string, ClaimOutcome | Error>();
    await lockDropForClaim(em, dropId);
    // A shuffled opening whose interval is over is served before anyone else, in its draw order.
    const { row, served } = await deps.opening.gate(em, dropId);
    seen.priority = hasLine(row?.allocationMode ?? 'FCFS') || served;
    // Timestamps as PostgreSQL's text: these rows are read by hand (see drop-state.ts), not converted.
    const existing = await em.execute<{ id: string; userId: string; code: string; status: 'ISSUED' | 'USED'; issuedAt: string; usedAt: string | null }[]>(
      `select id, user_id as "userId", code, status, issued_at as "issuedAt", used_at as "usedAt" from "claim" where drop_id = ? and user_id in (?)`,
      [dropId, userIds],
    );
    for (const c of existing) {
      const claim: ClaimView = {
        id: c.id,
        dropId,
        dropTitle: row?.title ?? '',
        code: c.code,
        status: c.status,
        issuedAt: new Date(c.issuedAt).toISOString(),
        usedAt: c.usedAt ? new Date(c.usedAt).toISOString() : null,
      };
      results.set(c.userId, { claim, created: false });
    }
    const candidates = userIds.filter((id) => !results.has(id));
    if (candidates.length === 0) return results;
    if (!row || !row.isActive) {
      for (const id of candidates) results.set(id, new DomainError('DROP_NOT_FOUND', 'No drop with this id.'));
      return results;
    }

    const onWaitlist = new Set(
      (
        await em.execute<{ userId: string }[]>(`select user_id as "userId" from "waitlist" where drop_id = ? and user_id in (?)`, [dropId, candidates])
      ).map((r) => r.userId),
    );
    const eligible: string[] = [];
    for (const id of candidates) {
      if (onWaitlist.has(id)) eligible.push(id);
      else results.set(id, new DomainError('NOT_ON_WAITLIST', 'Join the waitlist before claiming.'));
    }
    const refusal = refusalFor(row);
    if (refusal) {
      for (const id of eligible) results.set(id, refusal);
      return results;
    }
    // Inside a shuffled opening: arrival order does not count; collected now, answered at its end.
    if (row.openingPending && row.inOpening && row.openingEnds) {
      await deps.opening.collectLocked(em, dropId, eligible);
      for (const id of eligible) results.set(id, new CollectedForOpening(new Date(row.openingEnds)));
      return results;
    }
    // PRIORITY: only holders of a live reservation (judged after expiring and backfilling the line
    // in this same transaction); holders never outnumber the free slots.
    const notTheirTurn = hasLine(row.allocationMode) ? await deps.line.admit(em, dropId, eligible) : new Map<string, DomainError>();
    for (const [id, error] of notTheirTurn) results.set(id, error);
    const admitted = eligible.filter((id) => !notTheirTurn.has(id));
    const granted = admitted.slice(0, row.totalSlots - row.claimed);
    for (const id of admitted.slice(granted.length)) results.set(id, new DomainError('SOLD_OUT', 'Every slot has been claimed.'));
    if (granted.length === 0) return results;

    if (hasLine(row.allocationMode)) await deps.line.markClaimed(em, dropId, granted);
    for (const [userId, claim] of await issueClaims(em, dropId, row, granted)) results.set(userId, { claim, created: true });
    return results;
  }

  async function flush(dropId: string, queue: DropQueue): Promise<void> {
    queue.timer = undefined;
    const batch = queue.waiting.splice(0, maxBatch);
    if (batch.length === 0) return;
    queue.flushing = true;
    const userIds = [...new Set(batch.map((w) => w.userId))];
    deps.onBatch?.(userIds.length);
    try {
      let results: Map<string, ClaimOutcome | Error>;
      let committed = false;
      const seen = { priority: false };
      try {
        results = await transaction(orm, (tem) => commitBatch(tem, dropId, userIds, seen));
        committed = true;
      } catch (error) {
        if (!(isUniqueViolation(error) || isForeignKeyViolation(error))) throw error;
        // Two codes collided, another process slipped a claim in, or one of the users deleted
        // their account meanwhile: settle each claim alone, each with its own outcome (one
        // user's failure is not another's).
        results = new Map();
        for (const userId of userIds) {
          try {
            results.set(userId, await deps.claimOne(userId, dropId));
          } catch (single) {
            results.set(userId, single instanceof Error ? single : new Error(String(single)));
          }
        }
      }
      // On a PRIORITY drop even a batch of refusals may have moved the line (expired, backfilled).
      if (committed && (seen.priority || [...results.values()].some((r) => !(r instanceof Error) && r.created))) {
        try {
          notifier.drop?.(dropId);
          notifier.committed();
        } catch (error) {
          // The claims are committed: a failed notification must not turn them into errors.
          void error;
        }
      }
      const answered = new Set<string>();
      for (const waiter of batch) {
        const result = results.get(waiter.userId);
        if (result instanceof CollectedForOpening) {
          park(dropId, waiter, result.until);
          continue;
        }
        if (result instanceof Error || result === undefined) {
          waiter.reject(result ?? new DomainError('INTERNAL', 'The claim was lost.'));
          continue;
        }
        // The same user twice in one batch: one claim was created, the other request gets it back.
        waiter.resolve(answered.has(waiter.userId) ? { ...result, created: false } : result);
        answered.add(waiter.userId);
      }
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
    } finally {
      queue.flushing = false;
      if (queue.waiting.length > 0) schedule(dropId, queue, 0);
      else if (!queue.timer) queues.delete(dropId);
    }
  }

  /** A collected claim waits for its opening's end (the claim is in the database; only its answer waits here). */
  function park(dropId: string, waiter: Waiter, until: Date): void {
    let group = parked.get(dropId);
    if (!group) {
      group = { waiters: [], timer: setTimeout(() => void release(dropId), Math.max(0, until.getTime() - Date.now()) + 1) };
      parked.set(dropId, group);
    }
    group.waiters.push(waiter);
  }

  /** The interval is over: serve the opening (if no one did yet) and answer each collected claim with what it got. */
  async function release(dropId: string): Promise<void> {
    const group = parked.get(dropId);
    if (!group) return;
    parked.delete(dropId);
    try {
      const outcomes = await deps.opening.outcomes(dropId, [...new Set(group.waiters.map((w) => w.userId))]);
      const answered = new Set<string>();
      for (const waiter of group.waiters) {
        const result = outcomes.get(waiter.userId);
        if (result instanceof CollectedForOpening) park(dropId, waiter, result.until);
        else if (result instanceof Error || result === undefined) waiter.reject(result ?? new DomainError('INTERNAL', 'The claim was lost.'));
        else {
          waiter.resolve(answered.has(waiter.userId) ? { ...result, created: false } : result);
          answered.add(waiter.userId);
        }
      }
    } catch (error) {
      // The database is away: the entries stay and are served when it is back; asking again answers.
      for (const waiter of group.waiters) waiter.reject(error);
    }
  }

  function schedule(dropId: string, queue: DropQueue, delay: number): void {
    if (queue.timer || queue.flushing) return;
    queue.timer = setTimeout(() => void flush(dropId, queue), delay);
  }

  return {
    submit(userId: string, dropId: string): Promise<ClaimOutcome> {
      let queue = queues.get(dropId);
      if (!queue) {
        queue = { waiting: [], timer: undefined, flushing: false };
        queues.set(dropId, queue);
      }
      if (queue.waiting.length >= MAX_WAITING) {
        return Promise.reject(new DomainError('SERVICE_UNAVAILABLE', 'Too many claims are waiting for this drop; retry in a moment.', { extra: { retryAfter: 1 } }));
      }
      const promise = new Promise<ClaimOutcome>((resolve, reject) => queue.waiting.push({ userId, resolve, reject }));
      if (queue.waiting.length >= maxBatch && queue.timer && !queue.flushing) {
        clearTimeout(queue.timer);
        queue.timer = undefined;
        schedule(dropId, queue, 0);
      } else {
        schedule(dropId, queue, windowMs);
      }
      return promise;
    },
  };
}

export type ClaimBatcher = ReturnType<typeof createClaimBatcher>;
