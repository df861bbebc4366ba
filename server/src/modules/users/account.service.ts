import { randomBytes, randomUUID } from 'node:crypto';
import type { AccountExport, DeleteAccountBody } from '@dropspot/protocol';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { RetryTransaction } from '../../db/failures.ts';
import { clock, countInt, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AuthContext } from '../../types.d.ts';
import type { AuditService } from '../audit/audit.service.ts';
import type { AuthService, EndedSession } from '../auth/auth.service.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';
import { hashPassword, verifyPassword } from '../auth/password.ts';
import { SessionSchema } from '../auth/session.entity.ts';
import { ClaimSchema } from '../claims/claim.entity.ts';
import { toClaimView } from '../claims/claim.view.ts';
import { ApiTokenSchema } from '../events/api-token.entity.ts';
import { forgetUserInOutbox, recordEvent, type EventNotifier } from '../events/outbox.ts';
import { UserActionSchema } from '../waitlist/user-action.entity.ts';
import { WaitlistSchema } from '../waitlist/waitlist.entity.ts';
import { toWaitlistEntryView } from '../waitlist/waitlist.service.ts';
import { UserSchema } from './user.entity.ts';
import { toUserView } from './user.view.ts';

export type AccountService = ReturnType<typeof createAccountService>;

const iso = (date: Date | null | undefined) => date?.toISOString() ?? null;

/** A user's own account: everything kept about it, and its deletion. */
export function createAccountService(deps: {
  orm: Orm;
  auth: AuthService;
  audit: AuditService;
  notifier: EventNotifier;
  /** PRIORITY lines: a leaving user's reservation and any slot they give back pass to the next in line. */
  line: Pick<ReservationService, 'releaseLocked' | 'syncLocked'>;
  /** The account is gone: its live connections are closed (realtime layer, every process). */
  onAccountDeleted?: (userId: string) => void;
}) {
  const { orm, auth, audit, notifier } = deps;

  async function exportData(userId: string, currentSessionId: string): Promise<AccountExport> {
    const em = orm.em.fork();
    const user = await em.findOne(UserSchema, { id: userId });
    if (!user) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
    const [waitlists, claims, sessions, actions, apiTokens, adminActions] = await Promise.all([
      orm.em.fork().find(WaitlistSchema, { user: userId }, { populate: ['drop'], orderBy: { joinedAt: 'asc' } }),
      orm.em.fork().find(ClaimSchema, { user: userId }, { populate: ['drop'], orderBy: { issuedAt: 'asc' } }),
      orm.em.fork().find(SessionSchema, { user: userId }, { orderBy: { createdAt: 'asc' } }),
      orm.em.fork().find(UserActionSchema, { user: userId }, { orderBy: { at: 'asc' } }),
      orm.em.fork().find(ApiTokenSchema, { createdBy: userId }, { orderBy: { createdAt: 'asc' } }),
      audit.byActor(userId),
    ]);
    const notifications = await notificationData(userId);
    return {
      exportedAt: new Date().toISOString(),
      user: toUserView(user),
      waitlists: waitlists.map((w) => ({ ...toWaitlistEntryView(w), dropTitle: w.drop.title })),
      claims: claims.map((c) => toClaimView(c, c.drop.title)),
      // Metadata only: the refresh token hashes stay inside.
      sessions: sessions.map((s) => ({
        id: s.id,
        createdAt: s.createdAt.toISOString(),
        expiresAt: s.expiresAt.toISOString(),
        revokedAt: iso(s.revokedAt),
        revokedReason: s.revokedReason ?? null,
        userAgent: s.userAgent ?? null,
        current: s.id === currentSessionId,
      })),
      actions: actions.map((a) => ({ kind: a.kind, at: a.at.toISOString() })),
      apiTokens: apiTokens.map((t) => ({ id: t.id, name: t.name, createdAt: t.createdAt.toISOString(), lastUsedAt: iso(t.lastUsedAt), revokedAt: iso(t.revokedAt) })),
      adminActions,
      notifications,
    };
  }

  async function notificationData(userId: string): Promise<AccountExport['notifications']> {
    const q = db(orm.em.fork());
    const [preferences, devices, sent] = await Promise.all([
      q.selectFrom('notification_preference').select(['kind', 'channel', 'enabled']).where('user', '=', userId).orderBy('kind').orderBy('channel').execute(),
      q.selectFrom('push_subscription').select(['endpoint', 'createdAt']).where('user', '=', userId).orderBy('createdAt').execute(),
      q.selectFrom('notification').select(['drop', 'kind', 'channel', 'state', 'sentAt']).where('user', '=', userId).orderBy('createdAt').execute(),
    ]);
    return {
      preferences,
      devices: devices.map((d) => ({ endpoint: d.endpoint, createdAt: d.createdAt.toISOString() })),
      sent: sent.map((n) => ({ dropId: n.drop, kind: n.kind, channel: n.channel, state: n.state, sentAt: iso(n.sentAt) })),
    };
  }

  /** The drops whose numbers change when the user goes: where they hold a claim or a place in a PRIORITY line. */
  async function touchedDrops(em: EntityManager, userId: string) {
    const q = db(em);
    const inLine = await q.selectFrom('reservation').select('drop').where('user', '=', userId).where('status', 'in', ['WAITING', 'GRANTED']).execute();
    const claimedIn = await q.selectFrom('claim').select('drop').distinct().where('user', '=', userId).execute();
    return { inLine, ids: [...new Set([...inLine, ...claimedIn].map((row) => row.drop))].sort() };
  }

  /**
   * Deletes the account and, by cascade, its waitlist entries, claims, sessions, idempotency
   * keys, request counts and API tokens (the admin audit log keeps what an admin did). Every
   * drop it held a claim in gets the slot back in the same transaction, so `drop.claimed` stays
   * the number of claims. Locks, in the order every transaction takes them (drops, then users,
   * then claims): the drops it claimed in or is in line for, in id order (a claim group holds its
   * drop and then needs the user's row for its claim's foreign key: taken the other way round,
   * the two deadlock); for an admin, every admin row (the last admin stays); the user's row (a
   * claim or join for this user still in flight waits, then fails on the foreign key); then its
   * claims (a redeem in flight finishes first, so it is seen).
   */
  async function deleteAccount(actor: AuthContext, body: DeleteAccountBody): Promise<void> {
    const user = await orm.em.fork().findOne(UserSchema, { id: actor.userId });
    if (!user || !(await verifyPassword(user.passwordHash, body.currentPassword))) {
      throw new DomainError('INVALID_CREDENTIALS', 'The current password is wrong.', {
        issues: [{ path: 'currentPassword', message: 'wrong password', code: 'invalid' }],
      });
    }
    // Hashed before the transaction (it takes a moment): the sign-in secret of the placeholder that
    // keeps redeemed claims, which nobody knows.
    const placeholderHash = await hashPassword(randomBytes(32).toString('base64url'));
    const { sessions, dropIds } = await transaction(orm, async (em) => {
      const q = db(em);
      // Raw: a SET statement, which no query builder writes.
      await em.execute(`set local lock_timeout = '5s'`);
      const before = await touchedDrops(em, actor.userId);
      if (before.ids.length > 0) {
        await q.selectFrom('drop').select('id').where('id', 'in', before.ids).orderBy('id').forNoKeyUpdate().execute();
      }
      if (user.role === 'ADMIN') {
        // Every admin row, this one included, locked in id order: two admins leaving at once
        // queue here (no deadlock) and cannot both go.
        const admins = await q.selectFrom('user').select('id').where('role', '=', 'ADMIN').orderBy('id').forUpdate().execute();
        if (admins.length <= 1) {
          throw new DomainError('FORBIDDEN', 'The last admin cannot delete their account; make someone else an admin first.');
        }
      }
      const locked = await q.selectFrom('user').select('role').where('id', '=', actor.userId).forUpdate().executeTakeFirst();
      if (!locked) throw new DomainError('UNAUTHENTICATED', 'The account no longer exists.');
      if (locked.role === 'ADMIN' && user.role !== 'ADMIN') {
        throw new DomainError('SERVICE_UNAVAILABLE', 'The account changed meanwhile; try again.', { extra: { retryAfter: 1 } });
      }
      // Under the user's lock nothing new can reference them. A claim or place in line that
      // committed before it, in a drop not locked above, cannot be locked now without breaking the
      // order: start again with it in the set.
      const { inLine, ids: touchedIds } = await touchedDrops(em, actor.userId);
      if (touchedIds.some((id) => !before.ids.includes(id))) throw new RetryTransaction('the account gained a claim in another drop meanwhile');
      // Read committed sees a redeem only once it has committed: a redeem still in flight is waited
      // for here, so the USED claims below are all of them.
      await q.selectFrom('claim').select('id').where('user', '=', actor.userId).forUpdate().execute();
      // A held reservation passes on as if the user had left; a waiting place just goes.
      for (const { drop: dropId } of inLine) await deps.line.releaseLocked(em, dropId, actor.userId);
      // A redeemed code's item has been handed out, so its slot must stay used: those claims move to
      // an anonymous placeholder account nobody can sign in to. Only unredeemed codes give slots back.
      const redeemed = await q.selectFrom('claim').select(countInt.as('n')).where('user', '=', actor.userId).where('status', '=', 'USED').executeTakeFirst();
      if (redeemed && redeemed.n > 0) {
        const placeholderId = randomUUID();
        await q
          .insertInto('user')
          .values({ id: placeholderId, email: `deleted-${placeholderId}@deleted.invalid`, passwordHash: placeholderHash, role: 'USER', createdAt: sql<Date>`now()` })
          .execute();
        await q.updateTable('claim').set({ user: placeholderId }).where('user', '=', actor.userId).where('status', '=', 'USED').execute();
      }
      // Read again under the locks: a drop deleted meanwhile took its claims with it.
      const claimed = await q.selectFrom('claim').select(['id', 'drop']).where('user', '=', actor.userId).execute();
      const counters = await q
        .updateTable('drop')
        .from((eb) => eb.selectFrom('claim').select(['drop', countInt.as('n')]).where('user', '=', actor.userId).groupBy('drop').as('c'))
        .set((eb) => ({ claimed: eb('drop.claimed', '-', eb.ref('c.n')), updatedAt: clock }))
        .whereRef('drop.id', '=', 'c.drop')
        .returning(['drop.id', 'drop.claimed', 'drop.totalSlots'])
        .execute();
      const byDrop = new Map(counters.map((row) => [row.id, row]));
      for (const claim of claimed) {
        const counter = byDrop.get(claim.drop)!;
        recordEvent(em, {
          type: 'claim.released',
          dropId: claim.drop,
          payload: { claimId: claim.id, claimed: counter.claimed, remaining: counter.totalSlots - counter.claimed, reason: 'account-deleted' },
        });
      }
      const waitlisted = await q.selectFrom('waitlist').select('drop').where('user', '=', actor.userId).execute();
      for (const { drop: dropId } of waitlisted) {
        recordEvent(em, { type: 'waitlist.left', dropId, userId: actor.userId, payload: { dropId, userId: actor.userId } });
      }
      const sessionRows = await q.selectFrom('session').select('id').where('user', '=', actor.userId).execute();
      await q.deleteFrom('user').where('id', '=', actor.userId).execute();
      // Slots given back in a PRIORITY drop go to the next in line now, not at some later event.
      for (const dropId of touchedIds) await deps.line.syncLocked(em, dropId);
      // Last, so the events this deletion wrote are scrubbed too.
      await forgetUserInOutbox(em, actor.userId);
      return {
        sessions: sessionRows.map((s): EndedSession => ({ sessionId: s.id, userId: actor.userId })),
        dropIds: new Set([...claimed.map((c) => c.drop), ...waitlisted.map((w) => w.drop)]),
      };
    });
    for (const dropId of dropIds) notifier.drop?.(dropId);
    notifier.committed();
    deps.onAccountDeleted?.(actor.userId);
    auth.endSessions(sessions);
  }

  return { exportData, deleteAccount };
}
