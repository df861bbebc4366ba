import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';
import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import type { Insertable } from 'kysely';
import type { AuthResponse, ChangePasswordBody, LoginBody, Role, SignupBody, UserView } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { db, numbered, type Database } from '../../db/kysely.ts';
import { isUniqueViolation } from '../../db/failures.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AuthContext } from '../../types.d.ts';
import { UserSchema, type User } from '../users/user.entity.ts';
import { toUserView } from '../users/user.view.ts';
import { createLoginThrottle } from './login-throttle.ts';
import { createAdminProvisioning } from './admin-provision.ts';
import { hashPassword, timingDummyHash, verifyPassword } from './password.ts';
import { revokeFamily, ROTATED, type EndedSession } from './session-revocation.ts';
import { SessionSchema, type Session } from './session.entity.ts';
import { childRefreshToken, derivedKey, newRefreshToken, secretKey, sha256, signAccessToken, verifyAccessToken, type VerifiedAccessClaims } from './tokens.ts';

export type AuthService = ReturnType<typeof createAuthService>;

export const SESSION_CACHE_MS = 1000;
/**
 * How long a just-rotated refresh token is still accepted, answered with the same new pair: a
 * rotation whose response was lost (a dropped connection, a closed tab) must not sign the user
 * out everywhere at the next refresh. Long enough for a retry after a network hiccup, short
 * enough that a stolen token replayed later is still caught.
 */
export const REFRESH_GRACE_MS = 20_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type { EndedSession } from './session-revocation.ts';

export function createAuthService(deps: { orm: Orm; config: Readonly<Config>; onSessionsEnded?: (ended: EndedSession[]) => void }) {
  const { orm, config } = deps;
  const accessKey = secretKey(config.jwtAccessSecret);
  const rotationKey = derivedKey(config.jwtAccessSecret, 'dropspot refresh rotation');
  /**
   * Sessions seen live in the last second, with the user's role: a storm of requests from the
   * same users costs one session read per user per second instead of one per request. Logout and
   * reuse detection remove entries at once (on every process, through the realtime layer); a
   * role changed behind the API's back is seen within the second.
   */
  const liveSessions = new LRUCache<string, Role>({ max: 200_000, ttl: SESSION_CACHE_MS });
  /**
   * Session reads that arrive within a millisecond share one query (a storm of requests from
   * different users is a storm of session reads). A rotated session's access token stays valid
   * until it expires (requests in flight while another tab refreshed must not fail); logout and
   * reuse detection revoke for real.
   */
  const sessionReads = new DataLoader<string, Role | null>(
    async (keys) => {
      const pairs = keys.map((key) => key.split(':') as [string, string]);
      // Raw SQL on purpose: every request and socket event of a storm whose session left the
      // one-second cache waits on this read, and the query builder's row conversion (it walks
      // every property of both entities for each row) cost more CPU than the rest of the read.
      // Nothing here needs converting: uuids and the role are text. (ARCHITECTURE.md, "Data access".)
      const rows = await orm.em.fork().execute<{ id: string; userId: string; role: Role }[]>(
        `select s.id, s.user_id as "userId", u.role from "session" s join "user" u on u.id = s.user_id
          where s.id in (?) and s.expires_at > now() and (s.revoked_at is null or s.revoked_reason = ?)`,
        [pairs.map(([sid]) => sid), ROTATED],
      );
      const live = new Map(rows.map((row) => [`${row.id}:${row.userId}`, row.role]));
      return keys.map((key) => live.get(key) ?? null);
    },
    { cache: false, maxBatchSize: 500, batchScheduleFn: (run) => setTimeout(run, 1) },
  );
  /**
   * Access tokens whose signature was checked, with their claims: a token is sent with every
   * request and every socket event, and its HMAC, base64 and JSON cost more than the rest of the
   * check. Only the exact string that verified is found here; its expiry is checked again at
   * each use. The session behind it is checked at each use as before (liveSessions below), so
   * logout and revocation work exactly as without this cache.
   */
  const verifiedTokens = new LRUCache<string, VerifiedAccessClaims>({ max: 50_000 });
  function verifiedClaims(token: string): VerifiedAccessClaims {
    const known = verifiedTokens.get(token);
    if (known && known.exp * 1000 > Date.now()) return known;
    if (known) verifiedTokens.delete(token);
    const claims = verifyAccessToken(accessKey, token);
    verifiedTokens.set(token, claims);
    return claims;
  }
  /** Sessions ended recently: a read that was in flight when one ended must not cache it again. */
  const endedSessions = new LRUCache<string, true>({ max: 200_000, ttl: SESSION_CACHE_MS * 10 });
  const forgetSessions = (sessions: EndedSession[]) => {
    for (const { sessionId, userId } of sessions) {
      const key = `${sessionId}:${userId}`;
      endedSessions.set(key, true);
      liveSessions.delete(key);
    }
  };
  /** Live connections signed in with these sessions are told and demoted (realtime layer). */
  const ended = (sessions: EndedSession[]) => {
    if (sessions.length === 0) return;
    forgetSessions(sessions);
    deps.onSessionsEnded?.(sessions);
  };

  /**
   * The pair for a session. The access token is issued at the session's creation second, so
   * answering again for the same session (a refresh retried within its grace) gives the same token.
   */
  function sessionResponse(user: User, session: { id: string; createdAt: Date }, refreshToken: string, expiresIn = config.accessTokenTtlSeconds): AuthResponse {
    const issuedAt = Math.floor(session.createdAt.getTime() / 1000);
    return {
      user: toUserView(user),
      accessToken: signAccessToken(accessKey, config.accessTokenTtlSeconds, { sub: user.id, role: user.role, sid: session.id }, issuedAt),
      expiresIn,
      refreshToken,
    };
  }

  /**
   * Opens a session and signs its tokens: a new token family, or the next session of the family
   * `rotatedFrom` (its refresh token derived from the parent's, see `childRefreshToken`).
   */
  function openSession(
    em: EntityManager,
    user: User,
    userAgent: string | undefined,
    rotatedFrom?: { id: string; family: string; refreshToken: string },
  ): AuthResponse {
    const refreshToken = rotatedFrom ? childRefreshToken(rotationKey, rotatedFrom.refreshToken) : newRefreshToken();
    const session = em.create(SessionSchema, {
      user,
      refreshTokenHash: sha256(refreshToken),
      family: rotatedFrom?.family ?? randomUUID(),
      parent: rotatedFrom?.id ?? null,
      userAgent: userAgent?.slice(0, 512) ?? null,
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + config.refreshTokenTtlSeconds * 1000),
    });
    return sessionResponse(user, session, refreshToken);
  }

  /**
   * The answer to a rotation presented again within REFRESH_GRACE_MS: the pair that rotation
   * issued, while that child session is still the live head of the family; otherwise undefined.
   */
  async function retriedRotation(em: EntityManager, session: Session, refreshToken: string): Promise<AuthResponse | undefined> {
    if (session.revokedReason !== ROTATED || !session.revokedAt || Date.now() - session.revokedAt.getTime() >= REFRESH_GRACE_MS) return undefined;
    const childToken = childRefreshToken(rotationKey, refreshToken);
    const child = await em.findOne(SessionSchema, { refreshTokenHash: sha256(childToken), parent: session.id, revokedAt: null });
    if (!child || child.expiresAt.getTime() <= Date.now()) return undefined;
    const user = await em.findOneOrFail(UserSchema, { id: session.user.id });
    const left = Math.floor(child.createdAt.getTime() / 1000) + config.accessTokenTtlSeconds - Math.floor(Date.now() / 1000);
    return sessionResponse(user, child, childToken, Math.max(1, left));
  }

  /**
   * A new account (role USER, whatever the request says), signed in, with its first verification
   * link and that link's mail job (`firstLink`, see EmailVerificationService), all written by one
   * statement: one round trip and one commit, and the mail is queued if and only if the account
   * exists. `emailCanonical`: the address's canonical form, already checked (`acceptableEmail`).
   */
  async function signup(
    body: SignupBody & { emailCanonical: string },
    userAgent: string | undefined,
    firstLink: (user: { id: string; email: string }) => Promise<{ row: Insertable<Database['email_token']>; job: { text: string; values: unknown[] }; enqueued: () => void }>,
  ): Promise<AuthResponse> {
    const passwordHash = await hashPassword(body.password);
    const user = { id: randomUUID(), email: body.email, role: 'USER' as const, createdAt: new Date() };
    const refreshToken = newRefreshToken();
    const session = { id: randomUUID(), createdAt: user.createdAt };
    const link = await firstLink(user);
    try {
      // Data-modifying WITHs of one statement: its foreign keys are checked at its end, when the user exists.
      const statement = db(orm.em.fork())
        .with('new_user', (q) => q.insertInto('user').values({ ...user, emailCanonical: body.emailCanonical, passwordHash }).returning('id'))
        .with('new_session', (q) =>
          q
            .insertInto('session')
            .values({
              id: session.id,
              user: user.id,
              refreshTokenHash: sha256(refreshToken),
              family: randomUUID(),
              userAgent: userAgent?.slice(0, 512) ?? null,
              createdAt: session.createdAt,
              expiresAt: new Date(Date.now() + config.refreshTokenTtlSeconds * 1000),
            })
            .returning('id'),
        )
        .with('first_link', (q) => q.insertInto('email_token').values(link.row).returning('id'))
        .with('mail_job', () => numbered<{ id: string }>(link.job.text, link.job.values))
        .selectFrom('new_user')
        .select('id')
        .compile();
      // Compiled with the entities' names and conversions; run without converting a result nobody reads back.
      await orm.em.fork().getKysely().executeQuery(statement);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new DomainError('EMAIL_TAKEN', 'An account with this email already exists.', {
          issues: [{ path: 'email', message: 'already registered', code: 'taken' }],
        });
      }
      throw error;
    }
    link.enqueued();
    return {
      user: { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt.toISOString(), emailVerified: false },
      accessToken: signAccessToken(accessKey, config.accessTokenTtlSeconds, { sub: user.id, role: user.role, sid: session.id }, Math.floor(session.createdAt.getTime() / 1000)),
      expiresIn: config.accessTokenTtlSeconds,
      refreshToken,
    };
  }

  const throttle = createLoginThrottle();

  /** `address`: the client's address (grouped as the per-IP limits group it), for the per-address backoff. */
  async function login(body: LoginBody, client: { userAgent?: string; address: string }): Promise<AuthResponse> {
    // Counted before the password is checked, so parallel attempts cannot slip past the count.
    const attempt = throttle.reserve(body.email, client.address);
    const em = orm.em.fork();
    const user = await em.findOne(UserSchema, { email: body.email });
    const ok = await verifyPassword(user?.passwordHash ?? (await timingDummyHash()), body.password);
    if (!user || !ok) {
      attempt.wrong();
      throw new DomainError('INVALID_CREDENTIALS', 'Email or password is wrong.');
    }
    attempt.right();
    const response = openSession(em, user, client.userAgent);
    await em.flush();
    return response;
  }

  /**
   * Rotates a refresh token. A token rotated less than REFRESH_GRACE_MS ago, whose child is still
   * live, gets that rotation's pair again (its response was lost). Any other token that was
   * already rotated or revoked means someone replayed it: the whole family is revoked, which signs
   * out both the thief and the owner.
   */
  async function refresh(refreshToken: string, userAgent?: string): Promise<AuthResponse> {
    const outcome = await transaction(orm, async (em) => {
      // Only the session row is locked; locking the user's row too would queue this refresh
      // behind every insert that references the user (their claims, their waitlist entries).
      const session = await em.findOne(SessionSchema, { refreshTokenHash: sha256(refreshToken) }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!session) return { error: new DomainError('REFRESH_TOKEN_INVALID', 'The refresh token is not valid.') };
      if (session.revokedAt) {
        const retried = await retriedRotation(em, session, refreshToken);
        if (retried) return { response: retried };
        return {
          revoked: await revokeFamily(em, session.family, 'reuse-detected'),
          error: new DomainError('REFRESH_TOKEN_REUSED', 'This refresh token was already used; every session from it is now signed out.'),
        };
      }
      if (session.expiresAt.getTime() <= Date.now()) {
        return { error: new DomainError('REFRESH_TOKEN_INVALID', 'The refresh token has expired; sign in again.') };
      }
      session.revokedAt = new Date();
      session.revokedReason = ROTATED;
      const user = await em.findOneOrFail(UserSchema, { id: session.user.id });
      return { response: openSession(em, user, userAgent, { id: session.id, family: session.family, refreshToken }) };
    });
    // The family revocation above must commit, so the error is thrown only after the transaction.
    if (outcome.revoked) ended(outcome.revoked);
    if (outcome.error) throw outcome.error;
    return outcome.response;
  }

  /** Ends the sign-in behind an access token and/or a refresh token: its whole family. Idempotent. */
  async function logout(input: { sessionId?: string; refreshToken?: string }): Promise<void> {
    const em = orm.em.fork();
    const or = [
      ...(input.sessionId ? [{ id: input.sessionId }] : []),
      ...(input.refreshToken ? [{ refreshTokenHash: sha256(input.refreshToken) }] : []),
    ];
    if (or.length === 0) return;
    const sessions = await em.find(SessionSchema, { $or: or });
    for (const family of new Set(sessions.map((s) => s.family))) ended(await revokeFamily(em, family, 'logout'));
  }

  /**
   * Verifies an access token and that its session is still live, and reads the role from the
   * database so a demoted admin loses access at once rather than when the token expires.
   */
  async function authenticate(token: string, via: AuthContext['via']): Promise<AuthContext> {
    const claims = verifiedClaims(token);
    if (!UUID.test(claims.sid) || !UUID.test(claims.sub)) throw new DomainError('TOKEN_INVALID', 'The access token is not valid.');
    const key = `${claims.sid}:${claims.sub}`;
    let role = liveSessions.get(key);
    if (role === undefined) {
      role = (await sessionReads.load(key)) ?? undefined;
      if (!role || endedSessions.has(key)) throw new DomainError('SESSION_REVOKED', 'This session has ended; sign in again.');
      liveSessions.set(key, role);
    }
    return { userId: claims.sub, role, sessionId: claims.sid, via };
  }

  /**
   * Changes the password after checking the current one, and signs out every other sign-in of
   * the account (this one stays), as anyone who changes a password after a leak expects.
   */
  async function changePassword(auth: AuthContext, body: ChangePasswordBody): Promise<void> {
    const em = orm.em.fork();
    const user = await em.findOne(UserSchema, { id: auth.userId });
    if (!user || !(await verifyPassword(user.passwordHash, body.currentPassword))) {
      throw new DomainError('INVALID_CREDENTIALS', 'The current password is wrong.', {
        issues: [{ path: 'currentPassword', message: 'wrong password', code: 'invalid' }],
      });
    }
    user.passwordHash = await hashPassword(body.newPassword);
    await em.flush();
    const current = await em.findOne(SessionSchema, { id: auth.sessionId });
    const others = await em.find(SessionSchema, { user: auth.userId, family: { $ne: current?.family ?? auth.sessionId } });
    for (const family of new Set(others.map((s) => s.family))) ended(await revokeFamily(em, family, 'logout'));
  }

  async function me(userId: string): Promise<UserView> {
    const user = await orm.em.fork().findOne(UserSchema, { id: userId });
    if (!user) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
    return toUserView(user);
  }

  return {
    signup,
    login,
    refresh,
    logout,
    changePassword,
    authenticate,
    forgetSessions,
    endSessions: ended,
    me,
    ...createAdminProvisioning({ orm, endSessions: ended }),
  };
}
