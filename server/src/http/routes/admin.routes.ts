import { Router } from 'express';
import {
  createDropBodySchema,
  listDropsQuerySchema,
  redeemCodeSchema,
  updateDropBodySchema,
} from '@dropspot/protocol';
import { requireAdmin } from '../auth-middleware.ts';
import { DomainError } from '../../domain/errors.ts';
import { actionRoute } from '../action-route.ts';
import { parseBody, parseQuery } from '../validate.ts';
import { pathDropId } from './drop.routes.ts';
import { requestActor } from '../../modules/audit/audit.ts';
import type { Services } from '../../services.ts';


/** Everything under /api/admin; every route needs the ADMIN role. */
export function adminRoutes(deps: Pick<Services, 'drops' | 'claims' | 'limits' | 'actions'>): Router {
  const { drops, claims, limits, actions } = deps;
  const router = Router();
  router.use(requireAdmin);

  router.get('/drops', async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), true));
  });

  router.post('/drops', async (req, res) => {
    res.status(201).json(await drops.create(parseBody(createDropBodySchema, req.body), requestActor(req)));
  });

  router.get('/drops/:id', async (req, res) => {
    res.json(await drops.detail(pathDropId(req), undefined, true));
  });

  router.patch('/drops/:id', async (req, res) => {
    res.json(await drops.update(pathDropId(req), parseBody(updateDropBodySchema, req.body), requestActor(req)));
  });

  router.delete('/drops/:id', async (req, res) => {
    await drops.remove(pathDropId(req), requestActor(req));
    res.status(204).end();
  });

  router.post('/drops/:id/window', ...actionRoute(actions.window, { limits, body: true, respond: (res, drop) => res.json(drop) }));

  // PRIORITY drops: the line with who holds what, and extending every open hold at once.
  router.get('/drops/:id/reservations', ...actionRoute(actions.reservations, { limits, respond: (res, line) => res.json(line) }));
  router.post('/drops/:id/holds', ...actionRoute(actions.extendHolds, { limits, body: true, respond: (res, extended) => res.json(extended) }));

  router.post('/claims/:code/redeem', async (req, res) => {
    const code = redeemCodeSchema.safeParse(req.params.code);
    if (!code.success) throw new DomainError('CODE_NOT_FOUND', 'No claim has this code.');
    res.json({ claim: await claims.redeem(code.data, requestActor(req)) });
  });

  return router;
}
