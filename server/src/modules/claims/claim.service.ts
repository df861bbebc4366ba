import type { EntityManager } from '@mikro-orm/postgresql';
import { hasLine, type ClaimView } from '@dropspot/protocol';
import { isForeignKeyViolation, isUniqueViolation } from '../../db/failures.ts';
import { clock, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import { DropSchema } from '../drops/drop.entity.ts';
import { UserSchema } from '../users/user.entity.ts';
import { createClaimBatcher } from './claim-batcher.ts';
import { WaitlistSchema } from '../waitlist/waitlist.entity.ts';
import { recordUserAction } from '../waitlist/waitlist.service.ts';
import { ClaimSchema } from './claim.entity.ts';
import { newClaimCode } from './claim-code.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { recordEvent, type EventNotifier } from '../events/outbox.ts';
import { toClaimView } from './claim.view.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';
import { lockDropForClaim, readDropState, refusalFor } from './drop-state.ts';
import { noMetrics, type Metrics } from '../../observability/metrics.ts';
import { CollectedForOpening, type OpeningShuffle } from './opening-shuffle.ts';

export type ClaimService = ReturnType<typeof createClaimService>;

async function existingClaim(em: EntityManager, userId: string, dropId: string): Promise<ClaimView | undefined> {
  const claim = await em.findOne(ClaimSchema, { user: userId, drop: dropId }, { populate: ['drop'] });
  return claim ? toClaimView(claim, claim.drop.title) : undefined;
}

const CODE_ATTEMPTS = 3;

export function createClaimService(deps: {
  orm: Orm;
  notifier: EventNotifier;
  line: Pick<ReservationService, 'admit' | 'markClaimed'>;
  opening: Pick<OpeningShuffle, 'gate' | 'collectLocked' | 'outcomes'>;
  batchWindowMs?: number;
  /** Claims by outcome, their latency and the group commits' sizes. */
  metrics?: Metrics;
}) {
  const { orm, notifier, line, opening } = deps;
  const metrics = deps.metrics ?? noMetrics;

  /**
   * One claim, one unit of work: the waitlist check, the claim insert and the conditional counter
   * update commit together or not at all. The counter update is the decisive check (window, pause
   * and stock in one statement under the row lock); the CHECK on the counter and the unique
   * (user, drop) index are the database's last guard. Claiming again returns the same claim.
   * The batcher uses it to settle a batch that collided with another process's claim.
   */
  async function claimOne(userId: string, dropId: string): Promise<{ claim: ClaimView; created: boolean }> {
    const previous = await existingClaim(orm.em.fork(), userId, dropId);
    if (previous) return { claim: previous, created: false };

    for (let attempt = 1; ; attempt++) {
      try {
        const created = await transaction(orm, async (tem): Promise<ClaimView | CollectedForOpening> => {
          await lockDropForClaim(tem, dropId);
          // A shuffled opening that is due is served first; inside its interval the claim is collected.
          const { row: state, served } = await opening.gate(tem, dropId);
          // The opening just served may have given this user their code.
          const given = served ? await existingClaim(tem, userId, dropId) : undefined;
          if (given) return given;
          const drop = await tem.findOne(DropSchema, { id: dropId, isActive: true });
          if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
          const onWaitlist = await tem.count(WaitlistSchema, { user: userId, drop: dropId });
          if (onWaitlist === 0) throw new DomainError('NOT_ON_WAITLIST', 'Join the waitlist before claiming.');
          if (state?.openingPending && state.inOpening && state.openingEnds && !refusalFor(state)) {
            await opening.collectLocked(tem, dropId, [userId]);
            return new CollectedForOpening(new Date(state.openingEnds));
          }
          // PRIORITY: a live reservation is needed (an open window first, so the reason stays the window's).
          if (hasLine(drop.allocationMode) && !refusalFor(await readDropState(tem, dropId))) {
            const notYourTurn = (await line.admit(tem, dropId, [userId])).get(userId);
            if (notYourTurn) throw notYourTurn;
          }

          const entity = tem.create(ClaimSchema, { user: tem.getReference(UserSchema, userId), drop, code: newClaimCode() });
          await tem.flush();
          const slot = await db(tem)
            .updateTable('drop')
            .set((eb) => ({ claimed: eb('claimed', '+', 1), updatedAt: clock }))
            .where('id', '=', dropId)
            .where((eb) =>
              eb.and([
                eb.ref('isActive'),
                eb('pausedAt', 'is', null),
                eb('claimWindowStart', '<=', clock),
                eb(clock, '<', eb.ref('claimWindowEnd')),
                eb('claimed', '<', eb.ref('totalSlots')),
              ]),
            )
            .returning(['claimed', 'totalSlots'])
            .executeTakeFirst();
          // No slot taken: the reason, by the same rules and clock as a batch.
          if (!slot) throw refusalFor(await readDropState(tem, dropId)) ?? new DomainError('SOLD_OUT', 'Every slot has been claimed.');
          await line.markClaimed(tem, dropId, [userId]);
          await recordUserAction(tem, userId, 'claim');
          const view = toClaimView(entity, drop.title);
          recordEvent(tem, {
            type: 'claim.issued',
            dropId,
            userId,
            payload: { claim: view, claimed: slot.claimed, remaining: slot.totalSlots - slot.claimed },
          });
          await tem.flush();
          return view;
        });
        notifier.drop?.(dropId);
        notifier.committed();
        // Committed as collected: the caller (the batcher) answers it when the opening is served.
        if (created instanceof CollectedForOpening) throw created;
        return { claim: created, created: true };
      } catch (error) {
        if (isForeignKeyViolation(error)) {
          throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.', { cause: error });
        }
        if (!isUniqueViolation(error)) throw error;
        // The same user's parallel claim committed first: answer with that claim.
        const winner = await existingClaim(orm.em.fork(), userId, dropId);
        if (winner) return { claim: winner, created: false };
        // Otherwise two codes collided (about 1 in 10^17): draw again.
        if (attempt >= CODE_ATTEMPTS) throw error;
      }
    }
  }

  const batcher = createClaimBatcher({ orm, notifier, claimOne, line, opening, windowMs: deps.batchWindowMs, onBatch: (size) => metrics.claimBatch(size) });

  /** A claim as HTTP and sockets make it: grouped with others for the same drop into one commit. */
  function claim(userId: string, dropId: string): Promise<{ claim: ClaimView; created: boolean }> {
    if (!metrics.enabled) return batcher.submit(userId, dropId);
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    return batcher.submit(userId, dropId).then(
      (outcome) => {
        metrics.claim(outcome.created ? 'issued' : 'existing', seconds());
        return outcome;
      },
      (error: unknown) => {
        metrics.claim(error instanceof DomainError ? error.code : 'error', seconds());
        throw error;
      },
    );
  }

  async function myClaims(userId: string): Promise<ClaimView[]> {
    const claims = await orm.em.fork().find(ClaimSchema, { user: userId }, { populate: ['drop'], orderBy: { issuedAt: 'desc' } });
    return claims.map((c) => toClaimView(c, c.drop.title));
  }

  /** ISSUED → USED exactly once; a second redemption is refused with the time of the first. */
  async function redeem(code: string, actor: Actor): Promise<ClaimView> {
    const view = await transaction(orm, async (em) => {
      const updated = await em.nativeUpdate(ClaimSchema, { code, status: 'ISSUED' }, { status: 'USED', usedAt: new Date() });
      const claim = await em.findOne(ClaimSchema, { code }, { populate: ['drop'] });
      if (!claim) throw new DomainError('CODE_NOT_FOUND', 'No claim has this code.');
      if (updated === 0) {
        throw new DomainError('ALREADY_REDEEMED', `This code was already redeemed at ${claim.usedAt?.toISOString()}.`, {
          extra: { usedAt: claim.usedAt?.toISOString() ?? null },
        });
      }
      const redeemed = toClaimView(claim, claim.drop.title);
      recordEvent(em, { type: 'claim.redeemed', dropId: claim.drop.id, userId: claim.user.id, payload: { claim: redeemed } });
      await recordAudit(em, actor, { action: 'claim.redeem', dropId: claim.drop.id, targetId: claim.id, details: { code, userId: claim.user.id } });
      return redeemed;
    });
    notifier.committed();
    return view;
  }

  return { claim, claimOne, myClaims, redeem };
}
