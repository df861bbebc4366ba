import type { ClaimView } from '@dropspot/protocol';

/**
 * The stack's own ceiling: the claim route with everything in front of it (the request logger,
 * helmet, CORS, the JSON body, the JWT check, validation, the rate-limit bookkeeping, the
 * problem+json mapping, the response serialiser) but no database behind it. A storm against it
 * under the same load generator, in the same run, is what the real engine's attempts/s are
 * measured against: what is left between the two is the claim engine's own cost. A repeat claim
 * gets the user's first code back (200), as from the real engine.
 */
export function ceilingClaim() {
  const issued = new Map<string, ClaimView>();
  return async (userId: string, dropId: string): Promise<{ claim: ClaimView; created: boolean }> => {
    const first = issued.get(userId);
    if (first) return { claim: first, created: false };
    const claim: ClaimView = {
      id: userId,
      dropId,
      dropTitle: 'Benchmark drop',
      code: `CEIL${issued.size.toString(36).toUpperCase().padStart(8, '0')}`,
      status: 'ISSUED',
      issuedAt: new Date().toISOString(),
      usedAt: null,
    };
    issued.set(userId, claim);
    return { claim, created: true };
  };
}
