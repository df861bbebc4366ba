import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type LineMode } from '@dropspot/protocol';
import { clock, clockText, db } from '../../db/kysely.ts';
import { outboxRow } from '../events/outbox.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { inChunks } from './line-rows.ts';
import { ReservationSchema } from './reservation.entity.ts';
import { anonIdOf, commitmentOf, compareDrawKeys, compareRankable, drawKeyOf, tieBreakOf } from './ranking.ts';

/** How each line mode orders the waitlist at the freeze: the key stored in `tie_break`, and the order of the rows. */
function orderLine<E extends { user: string; priorityScore: number; joinedAt: Date }>(mode: LineMode, secret: string, seed: string, entries: E[]) {
  const keyed = entries.map((e) => {
    const anonId = anonIdOf(secret, e.user);
    const key = mode === 'DRAW' ? drawKeyOf(secret, anonId) : tieBreakOf(seed, secret, anonId);
    return { ...e, anonId, tieBreak: key, drawKey: key };
  });
  return keyed.sort(mode === 'DRAW' ? compareDrawKeys : compareRankable);
}

/**
 * Freezes the line if the drop is PRIORITY or DRAW, its window has opened and it is not frozen
 * yet: the waitlist in the mode's order (`orderLine`) becomes the ranked reservations, and the
 * `ranking.frozen` event joins `events`. The caller holds the drop's row lock; joins of such a
 * drop take a share lock on the same row and are refused once the window opened, so the
 * waitlist read here is final.
 */
export async function freezeIfDue(
  em: EntityManager,
  formula: PriorityFormula,
  dropId: string,
  events: ReturnType<typeof outboxRow>[],
): Promise<{ lined: boolean; frozen: boolean }> {
  const q = db(em);
  const drop = await q
    .selectFrom('drop')
    .select((eb) => [
      'allocationMode',
      'rankingSecret',
      'priorityFormula',
      clockText.as('now'),
      eb.and([eb.ref('isActive'), eb('rankingFrozenAt', 'is', null), eb('claimWindowStart', '<=', clock)]).as('due'),
    ])
    .where('id', '=', dropId)
    .executeTakeFirst();
  if (!drop || !hasLine(drop.allocationMode)) return { lined: false, frozen: false };
  if (!drop.due) return { lined: true, frozen: false };
  // Only drops created before PRIORITY existed lack a secret (and switching them draws one): never published, but still unguessable.
  const secret = drop.rankingSecret ?? randomBytes(32).toString('hex');
  const entries = await q.selectFrom('waitlist').select(['user', 'priorityScore', 'joinedAt', 'scoreBreakdown']).where('drop', '=', dropId).execute();
  // The drop's own formula (kept since it was published); only older drops fall back to the live one, which the freeze then keeps.
  const used = drop.priorityFormula ?? formula.view;
  const ranked = orderLine(drop.allocationMode, secret, used.seed, entries);
  const rows = ranked.map((e, i) => ({
    id: randomUUID(),
    drop: dropId,
    user: e.user,
    rank: i + 1,
    anonId: e.anonId,
    priorityScore: e.priorityScore,
    scoreBreakdown: e.scoreBreakdown,
    joinedAt: e.joinedAt,
    tieBreak: e.tieBreak,
    status: 'WAITING' as const,
    grantedAt: null,
    expiresAt: null,
    endedAt: null,
  }));
  await inChunks(rows, (part) => em.insertMany(ReservationSchema, part));
  await q.updateTable('drop').set({ rankingFrozenAt: clock, rankingSecret: secret, priorityFormula: used }).where('id', '=', dropId).execute();
  events.push(
    outboxRow({ type: 'ranking.frozen', dropId, userId: null, payload: { dropId, ranked: ranked.length, commitment: commitmentOf(secret), frozenAt: new Date(drop.now).toISOString() } }),
  );
  return { lined: true, frozen: true };
}
