import { Router } from 'express';
import { requireUser, userId } from '../../http/auth-middleware.ts';
import type { ClaimService } from './claim.service.ts';

export function meRoutes(deps: { claims: ClaimService }): Router {
  const router = Router();
  router.get('/claims', requireUser, async (req, res) => {
    res.json({ items: await deps.claims.myClaims(userId(req)) });
  });
  return router;
}
