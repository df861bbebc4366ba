import { dropRefSchema } from '@dropspot/protocol';
import { defineAction } from '../../domain/action.ts';
import type { ClaimService } from './claim.service.ts';

/** Claiming a slot of a drop. */
export function claimActions(claims: Pick<ClaimService, 'claim'>) {
  return {
    claim: defineAction({ schema: dropRefSchema, role: 'USER', limit: 'claim', run: (actor, { dropId }) => claims.claim(actor.userId, dropId) }),
  };
}
