import { Router } from 'express';
import type { Config } from '../../config.ts';
import type { PowService } from '../../modules/pow/pow.service.ts';
import { limit } from '../rate-limit.ts';

/** ALTCHA challenges for the widget: public, limited per address, never cached (each is solved once). */
export function powRoutes(deps: { pow: PowService; config: Readonly<Config> }): Router {
  const router = Router();
  const challengeLimit = limit({ name: 'pow-challenge', perMinute: deps.config.pow.challengesPerMinute, by: 'ip' });
  router.get('/altcha/challenge', challengeLimit, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await deps.pow.challenge());
  });
  return router;
}
