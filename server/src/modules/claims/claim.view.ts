import type { ClaimView } from '@dropspot/protocol';
import type { Claim } from './claim.entity.ts';

export function toClaimView(claim: Claim, dropTitle: string): ClaimView {
  return {
    id: claim.id,
    dropId: claim.drop.id,
    dropTitle,
    code: claim.code,
    status: claim.status,
    issuedAt: claim.issuedAt.toISOString(),
    usedAt: claim.usedAt?.toISOString() ?? null,
  };
}
