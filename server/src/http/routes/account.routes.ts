import { deleteAccountBodySchema } from '@dropspot/protocol';
import { accountExportSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';
import type { AccountService } from '../../modules/users/account.service.ts';

/** GET /api/me/export and DELETE /api/me: a user's own data, and leaving for good. */
export function accountRoutes(deps: { account: AccountService; config: Readonly<Config> }): ApiRouter {
  const { account, config } = deps;
  const api = apiRouter();
  const tag = 'Me';
  // The password check is a guessing target for whoever holds a stolen access token.
  const passwordLimit = limit({ name: 'account', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  // An export reads every table the account touches: a handful a minute is plenty.
  const exportLimit = limit({ name: 'export', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  const exportDoc = { tag, access: 'user', summary: 'Everything kept about your account (a JSON download)', responses: { 200: accountExportSchema }, limited: true } as const;
  api.get('/export', exportDoc, exportLimit, async (req, res) => {
    const data = await account.exportData(req.auth!.userId, req.auth!.sessionId);
    res.attachment(`dropspot-account-${data.user.id}.json`).json(data);
  });

  const deleteDoc = {
    tag,
    access: 'user',
    summary: 'Delete your account',
    description: 'Unredeemed claims go back to their drops; signs out everywhere and closes your sockets.',
    body: deleteAccountBodySchema,
    responses: { 204: null },
    errors: ['INVALID_CREDENTIALS', 'FORBIDDEN'],
    limited: true,
  } as const;
  api.delete('/', deleteDoc, passwordLimit, async (req, res) => {
    await account.deleteAccount(req.auth!, parseBody(deleteAccountBodySchema, req.body));
    res.clearCookie(ACCESS_COOKIE, { path: '/' }).clearCookie(REFRESH_COOKIE, { path: '/api/auth' });
    res.status(204).end();
  });

  return api;
}
