import { sql } from 'kysely';
import type { Role, UserView } from '@dropspot/protocol';
import { db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { UserSchema } from '../users/user.entity.ts';
import { toUserView } from '../users/user.view.ts';
import { hashPassword, verifyPassword } from './password.ts';
import { notRevoked, type EndedSession } from './session-revocation.ts';

export interface AdminProvision {
  outcome: 'created' | 'promoted' | 'password-reset' | 'unchanged' | 'refused';
  user: UserView;
  /** Sign-ins (session families) that were signed out. */
  sessionsEnded: number;
}

/** What `provisionAdmin` did, in a sentence for the operator; `howToPromote` says how to allow a refused promotion. */
export function describeAdminProvision({ outcome, user, sessionsEnded }: AdminProvision, howToPromote: string): string {
  const who = `${user.email} (${user.id})`;
  const signedOut = `${sessionsEnded} sign-in${sessionsEnded === 1 ? '' : 's'} signed out`;
  switch (outcome) {
    case 'created':
      return `Created admin ${who}.`;
    case 'promoted':
      return `Promoted ${who} to admin ${user.emailVerified ? '(its address is verified)' : 'although its address is not verified (forced)'}: password set, ${signedOut}.`;
    case 'password-reset':
      return `Reset the password of admin ${who}: ${signedOut}.`;
    case 'unchanged':
      return `${who} is already an admin with this password: nothing changed.`;
    case 'refused':
      return `Refused: ${who} is an existing account that is not an admin and its address is not verified; nothing changed. Anyone may have registered this address: promote it only if it is yours (${howToPromote}), which sets the password and signs it out everywhere. Once the address is verified through its link, it is promoted without that.`;
  }
}

/**
 * The operator's accounts (`npm run admin:create`, ADMIN_EMAIL and the demo users at start), kept
 * apart from sign-in: `endSessions` tells the live connections of the sessions it revokes.
 */
export function createAdminProvisioning(deps: { orm: Orm; endSessions: (ended: EndedSession[]) => void }) {
  const { orm, endSessions } = deps;

  /** Creates the account unless one with this email exists, which is left exactly as it is (demo data). */
  async function createUserIfMissing(email: string, password: string, role: Role): Promise<void> {
    const em = orm.em.fork();
    const normalized = email.trim().toLowerCase();
    if (await em.findOne(UserSchema, { email: normalized })) return;
    em.create(UserSchema, { email: normalized, passwordHash: await hashPassword(password), role });
    await em.flush();
  }

  /**
   * The operator's admin (`npm run admin:create`, ADMIN_EMAIL at start): creates it, or sets the
   * password of an existing admin. An existing account that is not an admin is promoted when its
   * address is verified (whoever holds it reads the operator's mailbox), otherwise only with
   * `promoteExisting` (anyone may have registered that address first). Whenever the role or the
   * password is set, every session of the account is revoked: whoever held one before must not
   * keep it with the new rights.
   */
  async function provisionAdmin(email: string, password: string, options: { promoteExisting: boolean }): Promise<AdminProvision> {
    const em = orm.em.fork();
    const normalized = email.trim().toLowerCase();
    const existing = await em.findOne(UserSchema, { email: normalized });
    if (!existing) {
      const user = em.create(UserSchema, { email: normalized, passwordHash: await hashPassword(password), role: 'ADMIN' });
      await em.flush();
      return { outcome: 'created', user: toUserView(user), sessionsEnded: 0 };
    }
    const promote = existing.role !== 'ADMIN';
    if (promote && !existing.emailVerifiedAt && !options.promoteExisting) return { outcome: 'refused', user: toUserView(existing), sessionsEnded: 0 };
    const samePassword = await verifyPassword(existing.passwordHash, password);
    if (!promote && samePassword) return { outcome: 'unchanged', user: toUserView(existing), sessionsEnded: 0 };
    const passwordHash = samePassword ? existing.passwordHash : await hashPassword(password);
    const revoked = await em.transactional(async (tx) => {
      await tx.nativeUpdate(UserSchema, { id: existing.id }, { role: 'ADMIN', passwordHash });
      return db(tx)
        .updateTable('session')
        .set({ revokedAt: sql<Date>`now()`, revokedReason: 'operator' })
        .where('user', '=', existing.id)
        .where(notRevoked)
        .returning(['id as sessionId', 'user as userId', 'family'])
        .execute();
    });
    endSessions(revoked.map(({ sessionId, userId }) => ({ sessionId, userId })));
    return {
      outcome: promote ? 'promoted' : 'password-reset',
      user: { ...toUserView(existing), role: 'ADMIN' },
      sessionsEnded: new Set(revoked.map((row) => row.family)).size,
    };
  }

  return { createUserIfMissing, provisionAdmin };
}
