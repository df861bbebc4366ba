import { z } from 'zod';
import { changeEmailBodySchema, forgotPasswordBodySchema, resetPasswordBodySchema, verifyEmailBodySchema } from '@dropspot/protocol';
import { mailboxSchema, userViewSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import { userId } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
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
}): ApiRouter {
  const { config, verification, passwordReset, mailer } = deps;
  const api = apiRouter();
  const tag = 'Identity';
  const userBody = z.object({ user: userViewSchema });
  const perIp = limit({ name: 'identity', perMinute: config.rateLimits.authPerMinute, by: 'ip' });
  // Each resend is a mail to someone's inbox: a few a minute per account.
  const resendLimit = limit({ name: 'verify-resend', perMinute: config.mail.perMinute, by: 'user' });
  const accountLimit = limit({ name: 'change-email', perMinute: config.rateLimits.authPerMinute, by: 'user' });

  const verifyDoc = {
    tag,
    access: 'public',
    summary: 'Confirm an address with the token from its link',
    body: verifyEmailBodySchema,
    responses: { 200: userBody },
    errors: ['LINK_INVALID', 'LINK_EXPIRED'],
    limited: true,
  } as const;
  api.post('/auth/verify-email', verifyDoc, perIp, async (req, res) => {
    res.json({ user: await verification.verify(parseBody(verifyEmailBodySchema, req.body).token) });
  });

  const resendDoc = {
    tag,
    access: 'user',
    summary: 'Mail a new confirmation link',
    responses: { 202: z.object({ sent: z.literal(true) }), 200: { description: 'Already confirmed: nothing sent.', schema: z.object({ sent: z.literal(false) }) } },
    limited: true,
  } as const;
  api.post('/auth/verify-email/resend', resendDoc, resendLimit, async (req, res) => {
    const { sent } = await verification.resend(userId(req));
    res.status(sent ? 202 : 200).json({ sent });
  });

  const forgotDoc = {
    tag,
    access: 'public',
    summary: 'Mail a password-reset link',
    description: 'The same answer for known and unknown addresses.',
    body: forgotPasswordBodySchema,
    responses: { 202: z.object({ message: z.string() }) },
    limited: true,
  } as const;
  api.post('/auth/forgot-password', forgotDoc, perIp, async (req, res) => {
    await passwordReset.request(parseBody(forgotPasswordBodySchema, req.body));
    res.status(202).json(RESET_REQUESTED);
  });

  const resetDoc = {
    tag,
    access: 'public',
    summary: 'Set a new password with the token from a reset link',
    description: 'Signs out every session of the account.',
    body: resetPasswordBodySchema,
    responses: { 204: null },
    errors: ['LINK_INVALID', 'LINK_EXPIRED'],
    limited: true,
  } as const;
  api.post('/auth/reset-password', resetDoc, perIp, async (req, res) => {
    await passwordReset.reset(parseBody(resetPasswordBodySchema, req.body));
    res.status(204).end();
  });

  const emailDoc = {
    tag,
    access: 'user',
    summary: 'Change your address (unconfirmed until its link is followed)',
    body: changeEmailBodySchema,
    responses: { 200: userBody },
    errors: ['INVALID_CREDENTIALS', 'EMAIL_TAKEN', 'EMAIL_DISPOSABLE'],
    limited: true,
  } as const;
  api.post('/me/email', emailDoc, accountLimit, async (req, res) => {
    res.json({ user: await verification.changeEmail(req.auth!, parseBody(changeEmailBodySchema, req.body)) });
  });

  // Development only: the messages that would have been mailed, links included.
  const mailboxDoc = { tag, access: 'admin', summary: 'The development mailbox (without SMTP_URL)', responses: { 200: mailboxSchema }, errors: ['NOT_FOUND'] } as const;
  api.get('/admin/mailbox', mailboxDoc, async (_req, res) => {
    if (!mailer.usesMailbox) throw new DomainError('NOT_FOUND', 'Mail goes out over SMTP here; there is no development mailbox.');
    const messages = await mailer.mailbox();
    res.json({
      messages: messages.map((m) => ({ id: m.id, to: m.recipient, subject: m.subject, text: m.text, html: m.html, sentAt: m.sentAt.toISOString() })),
    });
  });

  return api;
}
