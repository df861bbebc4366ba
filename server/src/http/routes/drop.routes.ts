import type { Request } from 'express';
import { z } from 'zod';
import { dropRefSchema, listDropsQuerySchema, rankingQuerySchema, uuidSchema } from '@dropspot/protocol';
import { claimedSchema, dropDetailViewSchema, dropPageSchema, joinedSchema, leftSchema, positionViewSchema, rankingViewSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { parseInput } from '../../domain/errors.ts';
import { dropCalendar } from '../../modules/drops/drop-calendar.ts';
import { idempotent } from '../../modules/idempotency/idempotency.middleware.ts';
import type { Services } from '../../services.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { limit } from '../rate-limit.ts';
import { parseQuery } from '../validate.ts';

/** The drop a path names: the same rule as every action's `dropId` (a malformed id is VALIDATION_FAILED). */
export const pathDropId = (req: Request) => parseInput(dropRefSchema, { dropId: req.params.id }, 'request').dropId;
/** The `:id` of a drop route, for its description. */
export const dropIdParam = { id: uuidSchema };

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
export function dropRoutes(deps: { orm: Orm; config: Readonly<Config> } & Pick<Services, 'drops' | 'reservations' | 'limits' | 'actions'>): ApiRouter {
  const { drops, reservations, limits, actions } = deps;
  const api = apiRouter();
  const more = [idempotent(deps.orm)];
  const tag = 'Drops';
  const onDrop = { tag, params: dropIdParam };

  api.get('/', { tag, access: 'public', summary: 'Active drops, one page', query: listDropsQuerySchema, responses: { 200: dropPageSchema } }, async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), false));
  });

  const detail = { ...onDrop, access: 'public', summary: 'One drop', description: 'Signed in, `me` adds your waitlist entry, claim and (PRIORITY/DRAW) reservation.' } as const;
  api.get('/:id', { ...detail, responses: { 200: dropDetailViewSchema }, errors: ['DROP_NOT_FOUND'] }, async (req, res) => {
    res.json(await drops.detail(pathDropId(req), req.auth?.userId));
  });

  // The window as a calendar event (published drops only, like every public read).
  const calendarDoc = {
    ...onDrop,
    access: 'public',
    summary: "The drop's claim window as a calendar event (.ics)",
    description: 'An iCalendar (RFC 5545) file with one event for the window, as a download.',
    responses: { 200: { contentType: 'text/calendar', schema: z.string().describe('an iCalendar (RFC 5545) VCALENDAR with one VEVENT'), description: 'The calendar file (attachment).' } },
    errors: ['DROP_NOT_FOUND'],
  } as const;
  api.get('/:id/calendar.ics', calendarDoc, async (req, res) => {
    const file = await dropCalendar(deps.orm, deps.config.publicUrl ?? `http://localhost:${deps.config.port}`, pathDropId(req));
    res.attachment(file.filename).type('text/calendar; charset=utf-8').set('Cache-Control', 'no-cache').send(file.body);
  });

  // PRIORITY drops: the commitment before the window opens; the secret and the frozen ranking after.
  // Paged and limited per IP: a whole ranking in one answer could be tens of megabytes. A revealed
  // page never changes, so a client holding it gets 304 for its ETag.
  const rankingLimit = limit({ name: 'ranking', perMinute: deps.config.rateLimits.rankingPerMinute, by: 'ip' });
  const rankingDoc = {
    ...onDrop,
    access: 'public',
    summary: "A PRIORITY or DRAW drop's published ranking, one page",
    description: 'Before the window opens only the commitment; after, the secret and every entry. A revealed page carries an ETag: If-None-Match answers 304.',
    query: rankingQuerySchema,
    responses: { 200: rankingViewSchema, 304: { description: 'Not modified: the page you hold is current.' } },
    errors: ['DROP_NOT_FOUND', 'NOT_FOUND'],
    limited: true,
  } as const;
  api.get('/:id/ranking', rankingDoc, rankingLimit, async (req, res) => {
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

  const windowErrors = ['DROP_NOT_FOUND', 'EMAIL_NOT_VERIFIED'] as const;
  api.action('post', '/:id/join', actions.join, { limits, more, body: true, respond: (res, joined) => res.status(joined.created ? 201 : 200).json(joined) }, {
    ...onDrop,
    summary: "Join a drop's waitlist",
    description: 'Again: 200 with the same entry. A drop with `requirePow` needs a solved `altcha`.',
    responses: { 201: joinedSchema, 200: joinedSchema },
    errors: [...windowErrors, 'WAITLIST_CLOSED', 'POW_REQUIRED', 'POW_INVALID', 'POW_REPLAYED'],
    idempotent: true,
  });
  api.action('post', '/:id/leave', actions.leave, { limits, more, respond: (res, left) => res.json(left) }, {
    ...onDrop,
    summary: "Leave a drop's waitlist",
    responses: { 200: leftSchema },
    errors: ['DROP_NOT_FOUND'],
    idempotent: true,
  });
  api.action('get', '/:id/position', actions.position, { limits, respond: (res, position) => res.json(position) }, {
    ...onDrop,
    summary: 'Your place on the waitlist',
    responses: { 200: positionViewSchema },
    errors: ['DROP_NOT_FOUND', 'NOT_ON_WAITLIST'],
  });
  api.action('post', '/:id/claim', actions.claim, { limits, more, respond: (res, claimed) => res.status(claimed.created ? 201 : 200).json(claimed) }, {
    ...onDrop,
    summary: 'Claim a slot',
    description: 'Again: 200 with the same claim. PRIORITY and DRAW: only with a live reservation (NOT_YOUR_TURN carries `reservation`).',
    responses: { 201: claimedSchema, 200: claimedSchema },
    errors: [...windowErrors, 'DROP_NOT_ACTIVE', 'NOT_ON_WAITLIST', 'WINDOW_NOT_OPEN', 'WINDOW_CLOSED', 'WINDOW_PAUSED', 'SOLD_OUT', 'NOT_YOUR_TURN'],
    idempotent: true,
  });

  return api;
}
