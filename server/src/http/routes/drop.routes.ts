import { Router, type Request } from 'express';
import { dropRefSchema, listDropsQuerySchema, rankingQuerySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { parseInput } from '../../domain/errors.ts';
import { dropCalendar } from '../../modules/drops/drop-calendar.ts';
import { idempotent } from '../../modules/idempotency/idempotency.middleware.ts';
import type { Services } from '../../services.ts';
import { actionRoute } from '../action-route.ts';
import { limit } from '../rate-limit.ts';
import { parseQuery } from '../validate.ts';

/** The drop a path names: the same rule as every action's `dropId` (a malformed id is VALIDATION_FAILED). */
export const pathDropId = (req: Request) => parseInput(dropRefSchema, { dropId: req.params.id }, 'request').dropId;

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

/** Public drop reads, and the signed-in user's waitlist and claim actions on one drop (the same actions as the socket events). */
export function dropRoutes(deps: { orm: Orm; config: Readonly<Config> } & Pick<Services, 'drops' | 'reservations' | 'limits' | 'actions'>): Router {
  const { drops, reservations, limits, actions } = deps;
  const router = Router();
  const more = [idempotent(deps.orm)];

  router.get('/', async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), false));
  });

  router.get('/:id', async (req, res) => {
    res.json(await drops.detail(pathDropId(req), req.auth?.userId));
  });

  // The window as a calendar event (published drops only, like every public read).
  router.get('/:id/calendar.ics', async (req, res) => {
    const file = await dropCalendar(deps.orm, deps.config.publicUrl ?? `http://localhost:${deps.config.port}`, pathDropId(req));
    res.attachment(file.filename).type('text/calendar; charset=utf-8').set('Cache-Control', 'no-cache').send(file.body);
  });

  // PRIORITY drops: the commitment before the window opens; the secret and the frozen ranking after.
  // Paged and limited per IP: a whole ranking in one answer could be tens of megabytes. A revealed
  // page never changes, so a client holding it gets 304 for its ETag.
  const rankingLimit = limit({ name: 'ranking', perMinute: deps.config.rateLimits.rankingPerMinute, by: 'ip' });
  router.get('/:id/ranking', rankingLimit, async (req, res) => {
    const { view, etag } = await reservations.ranking(pathDropId(req), req.auth?.userId, parseQuery(rankingQuerySchema, req.query));
    if (etag) {
      res.vary('Authorization').vary('Cookie').set({ ETag: etag, 'Cache-Control': 'private, no-cache' });
      if (matches(req.headers['if-none-match'], etag)) {
        res.status(304).end();
        return;
      }
    }
    res.json(view);
  });

  router.post('/:id/join', ...actionRoute(actions.join, { limits, more, body: true, respond: (res, joined) => res.status(joined.created ? 201 : 200).json(joined) }));
  router.post('/:id/leave', ...actionRoute(actions.leave, { limits, more, respond: (res, left) => res.json(left) }));
  router.get('/:id/position', ...actionRoute(actions.position, { limits, respond: (res, position) => res.json(position) }));
  router.post('/:id/claim', ...actionRoute(actions.claim, { limits, more, respond: (res, claimed) => res.status(claimed.created ? 201 : 200).json(claimed) }));

  return router;
}
