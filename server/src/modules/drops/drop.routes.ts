import { Router, type RequestHandler } from 'express';
import { listDropsQuerySchema, rankingQuerySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { requireUser, userId } from '../../http/auth-middleware.ts';
import type { ActionLimits, LimitedAction } from '../../http/action-limits.ts';
import { limit } from '../../http/rate-limit.ts';
import { parseId, parseQuery } from '../../http/validate.ts';
import type { Orm } from '../../db/orm.ts';
import type { ClaimService } from '../claims/claim.service.ts';
import { idempotent } from '../idempotency/idempotency.middleware.ts';
import type { WaitlistService } from '../waitlist/waitlist.service.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';
import type { DropService } from './drop.service.ts';

const dropId = (raw: unknown) => parseId(raw, 'DROP_NOT_FOUND', 'drop');

/**
 * If-None-Match against our ETag, by the origin server itself. Not `req.fresh`: that answers in
 * full whenever the request says `Cache-Control: no-cache`, which fetch() adds to every
 * conditional request, and that directive is for caches on the way, not for the origin.
 */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

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
  // Paged and limited per IP: a whole ranking in one answer could be tens of megabytes. A revealed
  // page never changes, so a client holding it gets 304 for its ETag.
  const rankingLimit = limit({ name: 'ranking', perMinute: deps.config.rateLimits.rankingPerMinute, by: 'ip' });
  router.get('/:id/ranking', rankingLimit, async (req, res) => {
    const id = dropId(req.params.id);
    const { view, etag } = await reservations.ranking(id, req.auth?.userId, parseQuery(rankingQuerySchema, req.query));
    if (etag) {
      res.vary('Authorization').vary('Cookie').set({ ETag: etag, 'Cache-Control': 'private, no-cache' });
      if (matches(req.headers['if-none-match'], etag)) {
        res.status(304).end();
        return;
      }
    }
    res.json(view);
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
