import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import { outboxRow, type EventNotifier } from '../events/outbox.ts';
import { OutboxEventSchema } from '../events/outbox-event.entity.ts';
import { anonIdOf, commitmentOf, drawKeyOf } from '../reservations/ranking.ts';
import { issueClaims, type ClaimOutcome } from './claim-insert.ts';
import { lockDropForClaim, readDropState, refusalFor, type DropStateRow } from './drop-state.ts';

/** A claim that arrived during a shuffled opening: collected, answered when the interval ends (`until`). */
export class CollectedForOpening extends Error {
  readonly until: Date;
  constructor(until: Date) {
    super('Collected for the shuffled opening; served when the interval ends.');
    this.until = until;
  }
}

export type OpeningShuffle = ReturnType<typeof createOpeningShuffle>;

/**
 * The shuffled opening of an FCFS drop (docs/domain.md, "Who may claim"). Claims that reach the
 * drop's row lock before `claim_window_start + opening_shuffle_seconds` are collected
 * (`opening_entry`, one per user, committed before anyone is answered) instead of served; the
 * first transaction holding the row lock after that instant while claims are possible (a claim,
 * the room's timer, a window action) serves them: in draw-key order (the DRAW permutation over
 * the drop's committed secret), one code each while slots last, the rest SOLD_OUT, and reveals
 * the order. Every step runs under the drop's row lock and the database clock, like any claim.
 */
export function createOpeningShuffle(deps: { orm: Orm; notifier: EventNotifier }) {
  const { orm, notifier } = deps;

  /** Records the eligible users' claims for the opening (the caller holds the row lock and checked window and waitlist). */
  async function collectLocked(em: EntityManager, dropId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const [drop] = await em.execute<{ ranking_secret: string | null }[]>('select ranking_secret from "drop" where id = ?', [dropId]);
    let secret = drop?.ranking_secret;
    if (!secret) {
      // Only a drop older than the secret lacks one; it was never committed, so nothing published depends on it.
      secret = randomBytes(32).toString('hex');
      await em.execute('update "drop" set ranking_secret = ? where id = ?', [secret, dropId]);
    }
    const rows = userIds.map((userId) => {
      const anonId = anonIdOf(secret, userId);
      return [randomUUID(), dropId, userId, anonId, drawKeyOf(secret, anonId)];
    });
    await em.execute(
      `insert into "opening_entry" (id, drop_id, user_id, anon_id, draw_key, arrived_at)
       values ${rows.map(() => '(?, ?, ?, ?, ?, clock_timestamp())').join(', ')}
       on conflict (drop_id, user_id) do nothing`,
      rows.flat(),
    );
  }

  /**
   * Serves the opening when it is due (the interval is over) and claims are possible (published,
   * inside the window, not paused): the caller holds the row lock. True when it served it now.
   */
  async function serveLocked(em: EntityManager, dropId: string): Promise<boolean> {
    const row = await readDropState(em, dropId);
    if (!row?.openingPending || row.inOpening || !row.isActive || !row.started || row.ended || row.paused) return false;
    const entries = await em.execute<{ user_id: string; on_waitlist: boolean }[]>(
      `select e.user_id, exists (select 1 from "waitlist" w where w.drop_id = e.drop_id and w.user_id = e.user_id) as on_waitlist
         from "opening_entry" e where e.drop_id = ? order by e.draw_key`,
      [dropId],
    );
    const free = row.totalSlots - row.claimed;
    const winners: string[] = [];
    const outcomes = entries.map((entry) => {
      if (!entry.on_waitlist) return 'LEFT';
      if (winners.length >= free) return 'SOLD_OUT';
      winners.push(entry.user_id);
      return 'CLAIMED';
    });
    await issueClaims(em, dropId, row, winners);
    if (entries.length > 0) {
      await em.execute(
        `update "opening_entry" e set rank = v.rank, outcome = v.outcome
           from unnest(array[?]::uuid[], array[?]::int[], array[?]::text[]) as v(user_id, rank, outcome)
          where e.drop_id = ? and e.user_id = v.user_id`,
        [entries.map((e) => e.user_id), entries.map((_, i) => i + 1), outcomes, dropId],
      );
    }
    const [settled] = await em.execute<{ at: Date; ranking_secret: string }[]>(
      'update "drop" set opening_settled_at = clock_timestamp(), opening_slots = ? where id = ? returning opening_settled_at as at, ranking_secret',
      [free, dropId],
    );
    const payload = { dropId, ranked: entries.length, claimed: winners.length, commitment: commitmentOf(settled?.ranking_secret ?? ''), frozenAt: new Date(settled!.at).toISOString() };
    await em.insertMany(OutboxEventSchema, [outboxRow({ type: 'opening.shuffled', dropId, payload })]);
    return true;
  }

  /**
   * For the claim paths, right after the row lock: serves a due opening first, so nobody is
   * served in arrival order ahead of it. Returns the drop's state as the claims are to be judged.
   */
  async function gate(em: EntityManager, dropId: string): Promise<{ row: DropStateRow | undefined; served: boolean }> {
    const row = await readDropState(em, dropId);
    if (!row?.openingPending || row.inOpening || !(await serveLocked(em, dropId))) return { row, served: false };
    return { row: await readDropState(em, dropId), served: true };
  }

  /**
   * What the collected claims of `userIds` got, once the interval is over (serving it first if it
   * is due): their claim, SOLD_OUT, NOT_ON_WAITLIST (left before being served), or, when claims
   * are not possible at the interval's end (paused, closed), the reason; their entries stay and
   * are served when claims are possible again. Still in the interval: `CollectedForOpening`.
   */
  async function outcomes(dropId: string, userIds: string[]): Promise<Map<string, ClaimOutcome | Error>> {
    const { results, served } = await transaction(orm, async (em) => {
      const results = new Map<string, ClaimOutcome | Error>();
      await lockDropForClaim(em, dropId);
      const { row, served } = await gate(em, dropId);
      if (row?.openingPending && row.inOpening && row.openingEnds) {
        for (const id of userIds) results.set(id, new CollectedForOpening(new Date(row.openingEnds)));
        return { results, served };
      }
      const claims = await em.execute<{ id: string; user_id: string; code: string; status: 'ISSUED' | 'USED'; issued_at: Date; used_at: Date | null }[]>(
        'select id, user_id, code, status, issued_at, used_at from "claim" where drop_id = ? and user_id in (?)',
        [dropId, userIds],
      );
      for (const c of claims) {
        const claim = { id: c.id, dropId, dropTitle: row?.title ?? '', code: c.code, status: c.status, issuedAt: new Date(c.issued_at).toISOString(), usedAt: c.used_at ? new Date(c.used_at).toISOString() : null };
        results.set(c.user_id, { claim, created: true });
      }
      const entries = await em.execute<{ user_id: string; outcome: string | null }[]>('select user_id, outcome from "opening_entry" where drop_id = ? and user_id in (?)', [dropId, userIds]);
      const outcome = new Map(entries.map((e) => [e.user_id, e.outcome]));
      for (const id of userIds) {
        if (results.has(id)) continue;
        const got = outcome.get(id);
        if (got === 'SOLD_OUT') results.set(id, new DomainError('SOLD_OUT', 'Every slot went to claims drawn ahead of yours in the shuffled opening.'));
        else if (got === 'LEFT' || got === undefined) results.set(id, new DomainError('NOT_ON_WAITLIST', 'You were not on the waitlist when the opening was served.'));
        else results.set(id, refusalFor(row) ?? new DomainError('SERVICE_UNAVAILABLE', 'The opening is being served; try again in a moment.', { extra: { retryAfter: 1 } }));
      }
      return { results, served };
    });
    if (served) changed(dropId);
    return results;
  }

  function changed(dropId: string): void {
    notifier.drop?.(dropId);
    notifier.committed();
  }

  /** The room timer's entry point: serves the opening if due. Returns when to look again. */
  async function tick(dropId: string): Promise<Date | null> {
    // Most drops have no opening to serve: no lock for them.
    const due = await nextInstant(dropId);
    if (!due || due.getTime() > Date.now()) return due;
    const served = await transaction(orm, async (em) => {
      await lockDropForClaim(em, dropId);
      return serveLocked(em, dropId);
    });
    if (served) changed(dropId);
    return nextInstant(dropId);
  }

  /** When the opening of a drop is to be served (null: none pending, or claims are not possible now). */
  async function nextInstant(dropId: string): Promise<Date | null> {
    const [row] = await orm.em.fork().execute<{ at: Date | null }[]>(
      `select case when opening_shuffle_seconds is null or opening_settled_at is not null or not is_active or paused_at is not null
                        or claim_window_end <= clock_timestamp() then null
                   else claim_window_start + make_interval(secs => opening_shuffle_seconds) end as at
         from "drop" where id = ?`,
      [dropId],
    );
    return row?.at ? new Date(row.at) : null;
  }

  /** Drops whose shuffled opening is still to be served: read at startup and on the rooms' rebuilds. */
  async function pendingDrops(): Promise<string[]> {
    const rows = await orm.em.fork().execute<{ id: string }[]>(
      `select id from "drop" where opening_shuffle_seconds is not null and opening_settled_at is null and is_active and claim_window_end > clock_timestamp()`,
    );
    return rows.map((r) => r.id);
  }

  return { collectLocked, serveLocked, gate, outcomes, tick, nextInstant, pendingDrops };
}
