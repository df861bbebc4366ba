import { Router, type RequestHandler } from 'express';
import { listDropsQuerySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { requireUser, userId } from '../auth-middleware.ts';
import type { ActionLimits, LimitedAction } from '../../domain/action-limits.ts';
import { parseId, parseQuery } from '../validate.ts';
import type { Orm } from '../../db/orm.ts';
import type { ClaimService } from '../../modules/claims/claim.service.ts';
import { idempotent } from '../../modules/idempotency/idempotency.middleware.ts';
import type { WaitlistService } from '../../modules/waitlist/waitlist.service.ts';
import type { ReservationService } from '../../modules/reservations/reservation.service.ts';
import type { DropService } from '../../modules/drops/drop.service.ts';

const dropId = (raw: unknown) => parseId(raw, 'DROP_NOT_FOUND', 'drop');

/** Public drop reads, and the signed-in user's waitlist and claim actions on one drop. */
export function dropRoutes(deps: {
  orm: Orm;
  config: Readonly<Config>;
  drops: DropService;
  waitlist: WaitlistService;
  claims: ClaimService;
  limits: ActionLimits;
  reservations: ReservationService;
}): Router {
  const { drops, waitlist, claims, reservations } = deps;
  const router = Router();
  const once = idempotent(deps.orm);
  // The same counters as the socket events: per user and per IP, whichever transport is used.
  const limited =
    (action: LimitedAction): RequestHandler =>
    async (req, _res, next) => {
      await deps.limits.consume(action, userId(req), req.ip);
      next();
    };
  const waitlistLimit = limited('waitlist');
  const claimLimit = limited('claim');

  router.get('/', async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), false));
  });

  router.get('/:id', async (req, res) => {
    res.json(await drops.detail(dropId(req.params.id), req.auth?.userId));
  });

  // PRIORITY drops: the commitment before the window opens; the secret and the frozen ranking after.
  router.get('/:id/ranking', async (req, res) => {
    res.json(await reservations.ranking(dropId(req.params.id), req.auth?.userId));
  });

  router.post('/:id/join', requireUser, waitlistLimit, once, async (req, res) => {
    const { entry, created } = await waitlist.join(userId(req), dropId(req.params.id));
    res.status(created ? 201 : 200).json({ entry, created });
  });

  router.post('/:id/leave', requireUser, waitlistLimit, once, async (req, res) => {
    res.json(await waitlist.leave(userId(req), dropId(req.params.id)));
  });

  router.get('/:id/position', requireUser, async (req, res) => {
    res.json(await waitlist.position(userId(req), dropId(req.params.id)));
  });

  router.post('/:id/claim', requireUser, claimLimit, once, async (req, res) => {
    const { claim, created } = await claims.claim(userId(req), dropId(req.params.id));
    res.status(created ? 201 : 200).json({ claim, created });
  });

  return router;
}
