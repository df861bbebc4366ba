import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import type { ChangeEmailBody, UserView } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AuthContext } from '../../types.d.ts';
import type { Mailer } from '../mail/mailer.ts';
import { verificationMail } from '../mail/messages.ts';
import { acceptableEmail } from '../users/email-address.ts';
import { UserSchema, type User } from '../users/user.entity.ts';
import { toUserView } from '../users/user.view.ts';
import { EmailTokenSchema } from './email-token.entity.ts';
import { verifyPassword } from './password.ts';
import { newRefreshToken, sha256 } from './tokens.ts';

export type EmailVerificationService = ReturnType<typeof createEmailVerificationService>;

export const VERIFICATION_TTL_MS = 24 * 3600_000;
/** A verified user is remembered this long per process, so joins and claims do not each read the user. */
const VERIFIED_CACHE_MS = 1000;

/** The address in a link: PUBLIC_URL when set, else where this server listens locally. */
export function appUrl(config: Readonly<Config>, path: string, token: string): string {
  const base = config.publicUrl ?? `http://localhost:${config.port}`;
  const url = new URL(path, base);
  url.searchParams.set('token', token);
  return url.toString();
}

/**
 * Email verification: a single-use link (only its sha256 stored, 24 hours) bound to the address
 * it was mailed to; a change of email makes the account unverified until the new address is
 * confirmed. With REQUIRE_VERIFIED_EMAIL, joining and claiming wait for it.
 */
export function createEmailVerificationService(deps: { orm: Orm; config: Readonly<Config>; mailer: Mailer }) {
  const { orm, config, mailer } = deps;
  const verifiedUsers = new LRUCache<string, true>({ max: 200_000, ttl: VERIFIED_CACHE_MS });

  /** A fresh link for the address: its row (only the token's hash) and its mail (the token itself). */
  function newLink(user: Pick<User, 'id' | 'email'>) {
    const token = newRefreshToken();
    const id = randomUUID();
    const row = {
      id,
      user: user.id,
      purpose: 'VERIFY_EMAIL' as const,
      tokenHash: sha256(token),
      email: user.email,
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + VERIFICATION_TTL_MS),
    };
    return { row, purpose: `verify:${id}`, mail: verificationMail(user.email, appUrl(config, '/verify-email', token)) };
  }

  /** Stores a fresh link for the user's current address and enqueues its mail (resend, change of email). */
  async function issue(user: Pick<User, 'id' | 'email'>): Promise<void> {
    const link = newLink(user);
    await orm.em.fork().insert(EmailTokenSchema, link.row);
    await mailer.send(link.purpose, link.mail);
  }

  /**
   * A new account's first link, to the address it is created with, as what the sign-up writes in
   * its own statement: the link's row and the mail's job (pg-boss's statement, see
   * `Mailer.jobStatement`), so the account, the link and the mail commit together or not at all.
   * `enqueued` after the commit.
   */
  async function firstLink(user: Pick<UserView, 'id' | 'email'>) {
    const link = newLink(user);
    return { row: link.row, job: await mailer.jobStatement(link.purpose, link.mail), enqueued: mailer.enqueued };
  }

  /** Another link for the current address (rate-limited at the route); nothing to do once verified. */
  async function resend(userId: string): Promise<{ sent: boolean }> {
    const user = await orm.em.fork().findOne(UserSchema, { id: userId });
    if (!user) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
    if (user.emailVerifiedAt) return { sent: false };
    await issue(user);
    return { sent: true };
  }

  /** Follows a link: once, before it expires, and only while the account still has that address. */
  async function verify(token: string): Promise<UserView> {
    return orm.em.fork().transactional(async (em) => {
      const row = await em.findOne(
        EmailTokenSchema,
        { tokenHash: sha256(token), purpose: 'VERIFY_EMAIL' },
        { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ['user'] },
      );
      if (!row || row.usedAt) throw new DomainError('LINK_INVALID', 'This link is not valid or was already used; sign in and ask for a new one.');
      if (row.expiresAt.getTime() <= Date.now()) throw new DomainError('LINK_EXPIRED', 'This link has expired; sign in and ask for a new one.');
      const user = row.user;
      if (user.email !== row.email) throw new DomainError('LINK_INVALID', 'This link was sent to an address the account no longer uses.');
      row.usedAt = new Date();
      user.emailVerifiedAt ??= new Date();
      return toUserView(user);
    });
  }

  /** Joining and claiming: refused with EMAIL_NOT_VERIFIED until the address is confirmed (when required). */
  async function requireVerified(userId: string): Promise<void> {
    if (!config.requireVerifiedEmail || verifiedUsers.has(userId)) return;
    const user = await orm.em.fork().findOne(UserSchema, { id: userId }, { fields: ['emailVerifiedAt'] });
    if (user && !user.emailVerifiedAt) {
      throw new DomainError('EMAIL_NOT_VERIFIED', 'Confirm your email address first: open the link we mailed you, or ask for a new one.');
    }
    if (user) verifiedUsers.set(userId, true);
  }

  /**
   * Changes the address after checking the current password. The account is unverified until the
   * link mailed to the new address is followed; the canonical form keeps it one account per mailbox.
   */
  async function changeEmail(auth: AuthContext, body: ChangeEmailBody): Promise<UserView> {
    const canonical = acceptableEmail(body.email, { blockDisposable: config.blockDisposableEmail });
    const em = orm.em.fork();
    const user = await em.findOne(UserSchema, { id: auth.userId });
    if (!user || !(await verifyPassword(user.passwordHash, body.currentPassword))) {
      throw new DomainError('INVALID_CREDENTIALS', 'The current password is wrong.', {
        issues: [{ path: 'currentPassword', message: 'wrong password', code: 'invalid' }],
      });
    }
    if (user.email === body.email) return toUserView(user);
    user.email = body.email;
    user.emailCanonical = canonical;
    user.emailVerifiedAt = null;
    try {
      await em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        throw new DomainError('EMAIL_TAKEN', 'An account with this email already exists.', {
          issues: [{ path: 'email', message: 'already registered', code: 'taken' }],
        });
      }
      throw error;
    }
    verifiedUsers.delete(user.id);
    await issue(user);
    return toUserView(user);
  }

  return { firstLink, resend, verify, requireVerified, changeEmail };
}
