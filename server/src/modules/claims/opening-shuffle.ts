import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type Selectable } from 'kysely';
import { clock, db, plusSeconds, type Database } from '../../db/kysely.ts';
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
    const q = db(em);
    const drop = await q.selectFrom('drop').select('rankingSecret').where('id', '=', dropId).executeTakeFirst();
    let secret = drop?.rankingSecret;
    if (!secret) {
      // Only a drop older than the secret lacks one; it was never committed, so nothing published depends on it.
      secret = randomBytes(32).toString('hex');
      await q.updateTable('drop').set({ rankingSecret: secret }).where('id', '=', dropId).execute();
    }
    const rows = userIds.map((userId) => {
      const anonId = anonIdOf(secret, userId);
      return { id: randomUUID(), drop: dropId, user: userId, anonId, drawKey: drawKeyOf(secret, anonId), arrivedAt: clock };
    });
    await q
      .insertInto('opening_entry')
      .values(rows)
      .onConflict((conflict) => conflict.columns(['drop', 'user']).doNothing())
      .execute();
  }

  /**
   * Serves the opening when it is due (the interval is over) and claims are possible (published,
   * inside the window, not paused): the caller holds the row lock. True when it served it now.
   */
  async function serveLocked(em: EntityManager, dropId: string): Promise<boolean> {
    const row = await readDropState(em, dropId);
    if (!row?.openingPending || row.inOpening || !row.isActive || !row.started || row.ended || row.paused) return false;
    const q = db(em);
    const entries = await q
      .selectFrom('opening_entry as e')
      .select((eb) => [
        'e.user',
        eb.exists(eb.selectFrom('waitlist as w').select('w.id').whereRef('w.drop', '=', 'e.drop').whereRef('w.user', '=', 'e.user')).as('onWaitlist'),
      ])
      .where('e.drop', '=', dropId)
      .orderBy('e.drawKey')
      .execute();
    const free = row.totalSlots - row.claimed;
    const winners: string[] = [];
    const outcomes = entries.map((entry) => {
      if (!entry.onWaitlist) return 'LEFT';
      if (winners.length >= free) return 'SOLD_OUT';
      winners.push(entry.user);
      return 'CLAIMED';
    });
    await issueClaims(em, dropId, row, winners);
    if (entries.length > 0) {
      // One statement for all entries: their ranks and outcomes as parallel arrays, joined back by user.
      // The alias's columns are SQL names (`user_id`), not properties: the plugin leaves them as written.
      type Ranked = { user_id: string } & Pick<Selectable<Database['opening_entry']>, 'rank' | 'outcome'>;
      const ranked = sql<Ranked>`unnest(${entries.map((e) => e.user)}::uuid[], ${entries.map((_, i) => i + 1)}::int[], ${outcomes}::text[])`;
      await q
        .updateTable('opening_entry')
        .from(ranked.as<'v'>(sql`v(user_id, rank, outcome)`))
        .set((eb) => ({ rank: eb.ref('v.rank'), outcome: eb.ref('v.outcome') }))
        .where('opening_entry.drop', '=', dropId)
        .whereRef('opening_entry.user', '=', 'v.user_id')
        .execute();
    }
    const settled = await q
      .updateTable('drop')
      .set({ openingSettledAt: clock, openingSlots: free })
      .where('id', '=', dropId)
      .returning(['openingSettledAt', 'rankingSecret'])
      .executeTakeFirst();
    const payload = { dropId, ranked: entries.length, claimed: winners.length, commitment: commitmentOf(settled?.rankingSecret ?? ''), frozenAt: settled!.openingSettledAt!.toISOString() };
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
      const q = db(em);
      const claims = await q
        .selectFrom('claim')
        .select(['id', 'user', 'code', 'status', 'issuedAt', 'usedAt'])
        .where('drop', '=', dropId)
        .where('user', 'in', userIds)
        .execute();
      for (const c of claims) {
        const claim = { id: c.id, dropId, dropTitle: row?.title ?? '', code: c.code, status: c.status, issuedAt: c.issuedAt.toISOString(), usedAt: c.usedAt?.toISOString() ?? null };
        results.set(c.user, { claim, created: true });
      }
      const entries = await q.selectFrom('opening_entry').select(['user', 'outcome']).where('drop', '=', dropId).where('user', 'in', userIds).execute();
      const outcome = new Map(entries.map((e) => [e.user, e.outcome]));
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
    const row = await db(orm.em.fork())
      .selectFrom('drop')
      .select((eb) =>
        eb
          .case()
          .when(
            eb.or([
              eb('openingShuffleSeconds', 'is', null),
              eb('openingSettledAt', 'is not', null),
              eb.not(eb.ref('isActive')),
              eb('pausedAt', 'is not', null),
              eb('claimWindowEnd', '<=', clock),
            ]),
          )
          .then(null)
          .else(plusSeconds(eb.ref('claimWindowStart'), eb.ref('openingShuffleSeconds')))
          .end()
          // Computed, not a column: the instant arrives as text.
          .$castTo<string | null>()
          .as('at'),
      )
      .where('id', '=', dropId)
      .executeTakeFirst();
    return row?.at ? new Date(row.at) : null;
  }

  /** Drops whose shuffled opening is still to be served: read at startup and on the rooms' rebuilds. */
  async function pendingDrops(): Promise<string[]> {
    const rows = await db(orm.em.fork())
      .selectFrom('drop')
      .select('id')
      .where((eb) =>
        eb.and([eb('openingShuffleSeconds', 'is not', null), eb('openingSettledAt', 'is', null), eb.ref('isActive'), eb('claimWindowEnd', '>', clock)]),
      )
      .execute();
    return rows.map((r) => r.id);
  }

  return { collectLocked, serveLocked, gate, outcomes, tick, nextInstant, pendingDrops };
}
