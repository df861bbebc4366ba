import { z } from 'zod';
import { claimViewSchema, myWaitlistsSchema } from '@dropspot/protocol/api';
import { userId } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import type { WaitlistService } from '../../modules/waitlist/waitlist.service.ts';
import type { ClaimService } from '../../modules/claims/claim.service.ts';

/** The signed-in user's own things: their claims and their waitlists. */
export function meRoutes(deps: { claims: ClaimService; waitlist: WaitlistService }): ApiRouter {
  const api = apiRouter();
  const tag = 'Me';
  api.get('/claims', { tag, access: 'user', summary: 'Your claims and their codes', responses: { 200: z.object({ items: z.array(claimViewSchema) }) } }, async (req, res) => {
    res.json({ items: await deps.claims.myClaims(userId(req)) });
  });
  api.get('/waitlists', { tag, access: 'user', summary: 'Your waitlists with your positions', responses: { 200: myWaitlistsSchema } }, async (req, res) => {
    res.json({ items: await deps.waitlist.mine(userId(req)) });
  });
  return api;
}
