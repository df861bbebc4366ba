import { Router } from 'express';
import { deleteAccountBodySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { ACCESS_COOKIE, REFRESH_COOKIE, requireUser } from '../auth-middleware.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';
import type { AccountService } from '../../modules/users/account.service.ts';

/** GET /api/me/export and DELETE /api/me: a user's own data, and leaving for good. */
export function accountRoutes(deps: { account: AccountService; config: Readonly<Config> }): Router {
  const { account, config } = deps;
  const router = Router();
  // The password check is a guessing target for whoever holds a stolen access token.
  const passwordLimit = limit({ name: 'account', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  // An export reads every table the account touches: a handful a minute is plenty.
  const exportLimit = limit({ name: 'export', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  router.get('/export', requireUser, exportLimit, async (req, res) => {
    const data = await account.exportData(req.auth!.userId, req.auth!.sessionId);
    res.attachment(`dropspot-account-${data.user.id}.json`).json(data);
  });

  router.delete('/', requireUser, passwordLimit, async (req, res) => {
    await account.deleteAccount(req.auth!, parseBody(deleteAccountBodySchema, req.body));
    res.clearCookie(ACCESS_COOKIE, { path: '/' }).clearCookie(REFRESH_COOKIE, { path: '/api/auth' });
    res.status(204).end();
  });

  return router;
}
