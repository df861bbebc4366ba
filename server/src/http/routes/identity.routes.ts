import { Router } from 'express';
import { changeEmailBodySchema, forgotPasswordBodySchema, resetPasswordBodySchema, verifyEmailBodySchema } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { requireAdmin, requireUser, userId } from '../auth-middleware.ts';
import { DomainError } from '../../domain/errors.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';
import type { Mailer } from '../../modules/mail/mailer.ts';
import type { EmailVerificationService } from '../../modules/auth/email-verification.service.ts';
import type { PasswordResetService } from '../../modules/auth/password-reset.service.ts';

/** The one answer to "forgot password", whether or not an account uses the address. */
export const RESET_REQUESTED = { message: 'If an account uses this address, a link to reset its password is on its way.' } as const;

/**
 * Verification, password reset, change of email and the development mailbox:
 * POST /auth/verify-email, /auth/verify-email/resend, /auth/forgot-password, /auth/reset-password,
 * /me/email; GET /admin/mailbox.
 */
export function identityRoutes(deps: {
  config: Readonly<Config>;
  verification: EmailVerificationService;
  passwordReset: PasswordResetService;
  mailer: Mailer;
}): Router {
  const { config, verification, passwordReset, mailer } = deps;
  const router = Router();
  const perIp = limit({ name: 'identity', perMinute: config.rateLimits.authPerMinute, by: 'ip' });
  // Each resend is a mail to someone's inbox: a few a minute per account.
  const resendLimit = limit({ name: 'verify-resend', perMinute: config.mail.perMinute, by: 'user' });
  const accountLimit = limit({ name: 'change-email', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  router.post('/auth/verify-email', perIp, async (req, res) => {
    res.json({ user: await verification.verify(parseBody(verifyEmailBodySchema, req.body).token) });
  });

  router.post('/auth/verify-email/resend', requireUser, resendLimit, async (req, res) => {
    const { sent } = await verification.resend(userId(req));
    res.status(sent ? 202 : 200).json({ sent });
  });

  router.post('/auth/forgot-password', perIp, async (req, res) => {
    await passwordReset.request(parseBody(forgotPasswordBodySchema, req.body));
    res.status(202).json(RESET_REQUESTED);
  });

  router.post('/auth/reset-password', perIp, async (req, res) => {
    await passwordReset.reset(parseBody(resetPasswordBodySchema, req.body));
    res.status(204).end();
  });

  router.post('/me/email', requireUser, accountLimit, async (req, res) => {
    res.json({ user: await verification.changeEmail(req.auth!, parseBody(changeEmailBodySchema, req.body)) });
  });

  // Development only: the messages that would have been mailed, links included.
  router.get('/admin/mailbox', requireAdmin, async (_req, res) => {
    if (!mailer.usesMailbox) throw new DomainError('NOT_FOUND', 'Mail goes out over SMTP here; there is no development mailbox.');
    const messages = await mailer.mailbox();
    res.json({
      messages: messages.map((m) => ({ id: m.id, to: m.recipient, subject: m.subject, text: m.text, html: m.html, sentAt: m.sentAt.toISOString() })),
    });
  });

  return router;
}
