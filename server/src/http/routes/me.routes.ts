import { Router } from 'express';
import { requireUser, userId } from '../auth-middleware.ts';
import type { WaitlistService } from '../../modules/waitlist/waitlist.service.ts';
import type { ClaimService } from '../../modules/claims/claim.service.ts';

/** The signed-in user's own things: their claims and their waitlists. */
export function meRoutes(deps: { claims: ClaimService; waitlist: WaitlistService }): Router {
  const router = Router();
  router.get('/claims', requireUser, async (req, res) => {
    res.json({ items: await deps.claims.myClaims(userId(req)) });
  });
  router.get('/waitlists', requireUser, async (req, res) => {
    res.json({ items: await deps.waitlist.mine(userId(req)) });
  });
  return router;
}
