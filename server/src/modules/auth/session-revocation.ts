import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type ExpressionBuilder } from 'kysely';
import { db, type Database } from '../../db/kysely.ts';

/** The revocation reason of a session that was rotated: its access tokens still work until they expire. */
export const ROTATED = 'rotated';

export interface EndedSession {
  sessionId: string;
  userId: string;
}

/** A session not revoked for real: live, or only rotated (so a revocation also covers what rotated away). */
export const notRevoked = (eb: ExpressionBuilder<Database, 'session'>) => eb.or([eb('revokedAt', 'is', null), eb('revokedReason', '=', ROTATED)]);

/** Revokes every session of a sign-in, rotated ones included, so none of its access tokens works. */
export async function revokeFamily(em: EntityManager, family: string, reason: 'logout' | 'reuse-detected'): Promise<EndedSession[]> {
  return db(em)
    .updateTable('session')
    .set({ revokedAt: sql<Date>`now()`, revokedReason: reason })
    .where('family', '=', family)
    .where(notRevoked)
    .returning(['id as sessionId', 'user as userId'])
    .execute();
}

/** Revokes every session of an account, every family (a password reset signs out every device). */
export async function revokeUserSessions(em: EntityManager, userId: string): Promise<EndedSession[]> {
  return db(em)
    .updateTable('session')
    .set({ revokedAt: sql<Date>`now()`, revokedReason: 'logout' })
    .where('user', '=', userId)
    .where(notRevoked)
    .returning(['id as sessionId', 'user as userId'])
    .execute();
}
