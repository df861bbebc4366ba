import { Router } from 'express';
import {
  createDropBodySchema,
  extendHoldsBodySchema,
  listDropsQuerySchema,
  redeemCodeSchema,
  updateDropBodySchema,
  windowActionBodySchema,
} from '@dropspot/protocol';
import { requireAdmin } from '../auth-middleware.ts';
import { DomainError } from '../../domain/errors.ts';
import { parseBody, parseId, parseQuery } from '../validate.ts';
import { requestActor } from '../../modules/audit/audit.ts';
import type { ClaimService } from '../../modules/claims/claim.service.ts';
import type { ReservationService } from '../../modules/reservations/reservation.service.ts';
import type { DropService } from '../../modules/drops/drop.service.ts';

const dropId = (raw: unknown) => parseId(raw, 'DROP_NOT_FOUND', 'drop');

/** Everything under /api/admin; every route needs the ADMIN role. */
export function adminRoutes(deps: { drops: DropService; claims: ClaimService; reservations: ReservationService }): Router {
  const { drops, claims, reservations } = deps;
  const router = Router();
  router.use(requireAdmin);

  router.get('/drops', async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), true));
  });

  router.post('/drops', async (req, res) => {
    res.status(201).json(await drops.create(parseBody(createDropBodySchema, req.body), requestActor(req)));
  });

  router.get('/drops/:id', async (req, res) => {
    res.json(await drops.detail(dropId(req.params.id), undefined, true));
  });

  router.patch('/drops/:id', async (req, res) => {
    res.json(await drops.update(dropId(req.params.id), parseBody(updateDropBodySchema, req.body), requestActor(req)));
  });

  router.delete('/drops/:id', async (req, res) => {
    await drops.remove(dropId(req.params.id), requestActor(req));
    res.status(204).end();
  });

  router.post('/drops/:id/window', async (req, res) => {
    res.json(await drops.windowAction(dropId(req.params.id), parseBody(windowActionBodySchema, req.body), requestActor(req)));
  });

  // PRIORITY drops: the line with who holds what, and extending every open hold at once.
  router.get('/drops/:id/reservations', async (req, res) => {
    res.json(await reservations.adminView(dropId(req.params.id)));
  });

  router.post('/drops/:id/holds', async (req, res) => {
    res.json(await reservations.extendHolds(dropId(req.params.id), parseBody(extendHoldsBodySchema, req.body).seconds, requestActor(req)));
  });

  router.post('/claims/:code/redeem', async (req, res) => {
    const code = redeemCodeSchema.safeParse(req.params.code);
    if (!code.success) throw new DomainError('CODE_NOT_FOUND', 'No claim has this code.');
    res.json({ claim: await claims.redeem(code.data, requestActor(req)) });
  });

  return router;
}
