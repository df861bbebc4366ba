import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ClaimView } from '@dropspot/protocol';
import { OutboxEventSchema } from '../events/outbox-event.entity.ts';
import { outboxRow } from '../events/outbox.ts';
import { ClaimSchema } from './claim.entity.ts';
import { newClaimCode } from './claim-code.ts';

export interface ClaimOutcome {
  claim: ClaimView;
  created: boolean;
}

// The counter update and the `user_action` insert below stay hand-written SQL, kept raw for the
// benchmarked group commit: they run once per claim group inside claim-batcher.ts's transaction,
// one statement each for the whole batch on the hot path of a claim storm (see drop-state.ts and
// the claim storm benchmark in BENCHMARKS.md). The shuffled opening serves its draw through here too.

const placeholders = (count: number, each: string) => Array.from({ length: count }, () => each).join(', ');

/**
 * Issues one claim to each of `userIds` (the caller holds the drop's row lock and has checked the
 * window, the waitlist and that `claimed + userIds.length <= total_slots`): one counter update,
 * one multi-row insert of claims and one of their outbox events, and the rapid-action rows. The
 * counter's CHECK and the unique (user, drop) index still guard whatever the caller missed.
 */
export async function issueClaims(
  em: EntityManager,
  dropId: string,
  drop: { title: string; totalSlots: number; claimed: number; now: Date | string },
  userIds: string[],
): Promise<Map<string, ClaimView>> {
  const issued = new Map<string, ClaimView>();
  if (userIds.length === 0) return issued;
  await em.execute('update "drop" set claimed = claimed + ?, updated_at = clock_timestamp() where id = ?', [userIds.length, dropId]);
  const issuedAt = new Date(drop.now);
  let claimed = drop.claimed;
  const claims = userIds.map((userId) => ({ id: randomUUID(), user: userId, drop: dropId, code: newClaimCode(), status: 'ISSUED' as const, issuedAt, usedAt: null }));
  const events = claims.map((c) => {
    claimed += 1;
    const view: ClaimView = { id: c.id, dropId, dropTitle: drop.title, code: c.code, status: 'ISSUED', issuedAt: issuedAt.toISOString(), usedAt: null };
    issued.set(c.user, view);
    return outboxRow({ type: 'claim.issued', dropId, userId: c.user, payload: { claim: view, claimed, remaining: drop.totalSlots - claimed } });
  });
  await em.insertMany(ClaimSchema, claims);
  await em.insertMany(OutboxEventSchema, events);
  // Only a claim that was issued counts toward the priority formula's rapid-actions term.
  await em.execute(`insert into "user_action" (user_id, kind, at) values ${placeholders(userIds.length, "(?, 'claim', now())")}`, userIds);
  return issued;
}
