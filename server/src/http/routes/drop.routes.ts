import { Router, type Request } from 'express';
import { dropRefSchema, listDropsQuerySchema } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { parseInput } from '../../domain/errors.ts';
import { idempotent } from '../../modules/idempotency/idempotency.middleware.ts';
import type { Services } from '../../services.ts';
import { actionRoute } from '../action-route.ts';
import { parseQuery } from '../validate.ts';

/** The drop a path names: the same rule as every action's `dropId` (a malformed id is VALIDATION_FAILED). */
export const pathDropId = (req: Request) => parseInput(dropRefSchema, { dropId: req.params.id }, 'request').dropId;

/** Public drop reads, and the signed-in user's waitlist and claim actions on one drop (the same actions as the socket events). */
export function dropRoutes(deps: { orm: Orm } & Pick<Services, 'drops' | 'reservations' | 'limits' | 'actions'>): Router {
  const { drops, reservations, limits, actions } = deps;
  const router = Router();
  const more = [idempotent(deps.orm)];

  router.get('/', async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), false));
  });

  router.get('/:id', async (req, res) => {
    res.json(await drops.detail(pathDropId(req), req.auth?.userId));
  });

  // PRIORITY drops: the commitment before the window opens; the secret and the frozen ranking after.
  router.get('/:id/ranking', async (req, res) => {
    res.json(await reservations.ranking(pathDropId(req), req.auth?.userId));
  });

  router.post('/:id/join', ...actionRoute(actions.join, { limits, more, respond: (res, joined) => res.status(joined.created ? 201 : 200).json(joined) }));
  router.post('/:id/leave', ...actionRoute(actions.leave, { limits, more, respond: (res, left) => res.json(left) }));
  router.get('/:id/position', ...actionRoute(actions.position, { limits, respond: (res, position) => res.json(position) }));
  router.post('/:id/claim', ...actionRoute(actions.claim, { limits, more, respond: (res, claimed) => res.status(claimed.created ? 201 : 200).json(claimed) }));

  return router;
}
