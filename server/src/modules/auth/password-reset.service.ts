import { randomUUID } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { LockMode } from '@mikro-orm/postgresql';
import type { ForgotPasswordBody, ResetPasswordBody } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import type { Mailer } from '../mail/mailer.ts';
import { passwordResetMail } from '../mail/messages.ts';
import { canonicalEmail } from '../users/email-address.ts';
import { UserSchema } from '../users/user.entity.ts';
import type { AuthService } from './auth.service.ts';
import { revokeUserSessions } from './session-revocation.ts';
import { EmailTokenSchema } from './email-token.entity.ts';
import { appUrl } from './email-verification.service.ts';
import { hashPassword } from './password.ts';
import { newRefreshToken, sha256 } from './tokens.ts';

export type PasswordResetService = ReturnType<typeof createPasswordResetService>;

export const RESET_TTL_MS = 30 * 60_000;

/**
 * "Forgot password": a single-use link (sha256 stored, 30 minutes) mailed to the account's own
 * address. Asking answers the same whether or not an account exists, after the same work (a
 * token is drawn, hashed and a job enqueued either way; for an unknown address the job sends
 * nothing). Using the link sets the password, confirms the address it reached, spends every
 * other reset link of the account and signs out every session.
 */
export function createPasswordResetService(deps: { orm: Orm; config: Readonly<Config>; mailer: Mailer; auth: Pick<AuthService, 'endSessions'> }) {
  const { orm, config, mailer, auth } = deps;
  // Per mailbox (aliases count together), whatever the IP: a victim's inbox cannot be flooded.
  const perAddress = new RateLimiterMemory({ keyPrefix: 'reset-address', points: config.mail.perMinute, duration: 60 });

  async function request(body: ForgotPasswordBody): Promise<void> {
    const canonical = canonicalEmail(body.email) ?? body.email;
    try {
      await perAddress.consume(canonical);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new DomainError('RATE_LIMITED', 'Too many reset requests for this address; wait before asking again.', {
        extra: { retryAfter: Math.max(1, Math.ceil(error.msBeforeNext / 1000)) },
      });
    }
    const token = newRefreshToken();
    const tokenHash = sha256(token);
    const em = orm.em.fork();
    const user = await em.findOne(UserSchema, { emailCanonical: canonical });
    if (!user) {
      await mailer.send(`reset-unknown:${randomUUID()}`, null);
      return;
    }
    const row = em.create(EmailTokenSchema, {
      user,
      purpose: 'RESET_PASSWORD',
      tokenHash,
      email: user.email,
      expiresAt: new Date(Date.now() + RESET_TTL_MS),
    });
    await em.flush();
    // To the account's own address, never to the alias typed in the form.
    await mailer.send(`reset:${row.id}`, passwordResetMail(user.email, appUrl(config, '/reset-password', token)));
  }

  async function reset(body: ResetPasswordBody): Promise<void> {
    const passwordHash = await hashPassword(body.newPassword);
    const ended = await orm.em.fork().transactional(async (em) => {
      const row = await em.findOne(
        EmailTokenSchema,
        { tokenHash: sha256(body.token), purpose: 'RESET_PASSWORD' },
        { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ['user'] },
      );
      if (!row || row.usedAt) throw new DomainError('LINK_INVALID', 'This reset link is not valid or was already used; ask for a new one.');
      if (row.expiresAt.getTime() <= Date.now()) throw new DomainError('LINK_EXPIRED', 'This reset link has expired; ask for a new one.');
      const user = row.user;
      const now = new Date();
      user.passwordHash = passwordHash;
      // The link reached the mailbox, which is what verification proves too.
      if (user.email === row.email) user.emailVerifiedAt ??= now;
      await em.nativeUpdate(EmailTokenSchema, { user: user.id, purpose: 'RESET_PASSWORD', usedAt: null }, { usedAt: now });
      await em.flush();
      return revokeUserSessions(em, user.id);
    });
    auth.endSessions(ended);
  }

  return { request, reset };
}
