import { altchaChallengeSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import type { PowService } from '../../modules/pow/pow.service.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { limit } from '../rate-limit.ts';

/** ALTCHA challenges for the widget: public, limited per address, never cached (each is solved once). */
export function powRoutes(deps: { pow: PowService; config: Readonly<Config> }): ApiRouter {
  const api = apiRouter();
  const challengeLimit = limit({ name: 'pow-challenge', perMinute: deps.config.pow.challengesPerMinute, by: 'ip' });
  const doc = { tag: 'Auth', access: 'public', summary: 'A fresh proof-of-work challenge (never cached)', responses: { 200: altchaChallengeSchema }, limited: true } as const;
  api.get('/altcha/challenge', doc, challengeLimit, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await deps.pow.challenge());
  });
  return api;
}
