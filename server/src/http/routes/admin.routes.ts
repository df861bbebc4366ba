import {
  createDropBodySchema,
  listDropsQuerySchema,
  redeemCodeSchema,
  updateDropBodySchema,
} from '@dropspot/protocol';
import { adminReservationsViewSchema, claimViewSchema, dropDetailViewSchema, dropPageSchema, dropViewSchema, holdsExtendedSchema } from '@dropspot/protocol/api';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { parseBody, parseQuery } from '../validate.ts';
import { dropIdParam, pathDropId } from './drop.routes.ts';
import { requestActor } from '../../modules/audit/audit.ts';
import type { Services } from '../../services.ts';

/** Everything under /api/admin; every route needs the ADMIN role (the guard comes from each route's `access`). */
export function adminRoutes(deps: Pick<Services, 'drops' | 'claims' | 'limits' | 'actions'>): ApiRouter {
  const { drops, claims, limits, actions } = deps;
  const api = apiRouter();
  const tag = 'Admin';
  const admin = { tag, access: 'admin' } as const;
  const onDrop = { ...admin, params: dropIdParam, errors: ['DROP_NOT_FOUND'] } as const;

  api.get('/drops', { ...admin, summary: 'Every drop (drafts too), one page', query: listDropsQuerySchema, responses: { 200: dropPageSchema } }, async (req, res) => {
    res.json(await drops.page(parseQuery(listDropsQuerySchema, req.query), true));
  });

  api.post('/drops', { ...admin, summary: 'Create a drop', body: createDropBodySchema, responses: { 201: dropViewSchema } }, async (req, res) => {
    res.status(201).json(await drops.create(parseBody(createDropBodySchema, req.body), requestActor(req)));
  });

  api.get('/drops/:id', { ...onDrop, summary: 'One drop (drafts too)', responses: { 200: dropDetailViewSchema } }, async (req, res) => {
    res.json(await drops.detail(pathDropId(req), undefined, true));
  });

  const updateDoc = {
    ...onDrop,
    summary: 'Change a drop',
    body: updateDropBodySchema,
    responses: { 200: dropViewSchema },
    errors: [...onDrop.errors, 'SLOTS_BELOW_CLAIMED'],
  } as const;
  api.patch('/drops/:id', updateDoc, async (req, res) => {
    res.json(await drops.update(pathDropId(req), parseBody(updateDropBodySchema, req.body), requestActor(req)));
  });

  api.delete('/drops/:id', { ...onDrop, summary: 'Delete a drop (cascades)', responses: { 204: null } }, async (req, res) => {
    await drops.remove(pathDropId(req), requestActor(req));
    res.status(204).end();
  });

  api.action('post', '/drops/:id/window', actions.window, { limits, body: true, respond: (res, drop) => res.json(drop) }, {
    tag,
    params: dropIdParam,
    summary: 'Open now, close now, extend, pause or resume the claim window',
    responses: { 200: dropViewSchema },
    errors: ['DROP_NOT_FOUND'],
  });

  // PRIORITY drops: the line with who holds what, and extending every open hold at once.
  api.action('get', '/drops/:id/reservations', actions.reservations, { limits, respond: (res, line) => res.json(line) }, {
    tag,
    params: dropIdParam,
    summary: "A PRIORITY or DRAW drop's line: who holds what",
    responses: { 200: adminReservationsViewSchema },
    errors: ['DROP_NOT_FOUND', 'NOT_FOUND'],
  });
  api.action('post', '/drops/:id/holds', actions.extendHolds, { limits, body: true, respond: (res, extended) => res.json(extended) }, {
    tag,
    params: dropIdParam,
    summary: 'Add time to every open hold',
    responses: { 200: holdsExtendedSchema },
    errors: ['DROP_NOT_FOUND', 'NOT_FOUND'],
  });

  const redeemDoc = {
    ...admin,
    summary: 'Redeem a code (ISSUED → USED, once)',
    description: 'Codes may be typed in lower case, with spaces or without dashes. Again: ALREADY_REDEEMED with `usedAt`.',
    params: { code: redeemCodeSchema },
    responses: { 200: z.object({ claim: claimViewSchema }) },
    errors: ['CODE_NOT_FOUND', 'ALREADY_REDEEMED'],
  } as const;
  api.post('/claims/:code/redeem', redeemDoc, async (req, res) => {
    const code = redeemCodeSchema.safeParse(req.params.code);
    if (!code.success) throw new DomainError('CODE_NOT_FOUND', 'No claim has this code.');
    res.json({ claim: await claims.redeem(code.data, requestActor(req)) });
  });

  return api;
}
