import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import { clock, clockText, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { emailMessage, pushMessage, type MessageInput } from './messages.ts';
import { insertNotifications, listed, waitlisted, type PlanJob } from './planner.ts';
import type { PushSender } from './web-push.ts';

/** A notification with what its sending depends on: the user's address and switch, the drop, the hold, the code. */
function load(em: EntityManager, id: string) {
  return db(em)
    .selectFrom('notification as n')
    .innerJoin('user as u', 'u.id', 'n.user')
    .innerJoin('drop as d', 'd.id', 'n.drop')
    .leftJoin('notification_preference as p', (join) => join.onRef('p.user', '=', 'n.user').onRef('p.kind', '=', 'n.kind').onRef('p.channel', '=', 'n.channel'))
    .leftJoin('reservation as r', (join) => join.onRef('r.drop', '=', 'n.drop').onRef('r.user', '=', 'n.user'))
    .leftJoin('claim as c', (join) => join.onRef('c.drop', '=', 'n.drop').onRef('c.user', '=', 'n.user'))
    .select((eb) => [
      'n.id',
      'n.user',
      'n.drop',
      'n.kind',
      'n.channel',
      'n.state',
      'n.detail',
      'n.deliveredTo',
      'u.email',
      eb('u.emailVerifiedAt', 'is not', null).as('verified'),
      eb.fn.coalesce('p.enabled', sql<boolean>`true`).as('wanted'),
      'd.title',
      'd.isActive',
      'd.claimWindowStart',
      'r.status as reservationStatus',
      'r.expiresAt',
      'c.code',
      clockText.as('now'),
    ])
    .where('n.id', '=', id)
    .executeTakeFirst();
}

type Loaded = NonNullable<Awaited<ReturnType<typeof load>>>;

/** Whether a notification no longer applies at its sending. */
function stale(n: Loaded): boolean {
  const now = Date.parse(n.now);
  switch (n.kind) {
    case 'window-opens-soon': {
      const start = n.claimWindowStart.getTime();
      return !n.isActive || start !== Date.parse(String(n.detail?.start)) || now >= start;
    }
    case 'window-opened':
      return !n.isActive;
    case 'reservation-granted':
    case 'reservation-expiring':
      return n.reservationStatus !== 'GRANTED' || !n.expiresAt || n.expiresAt.getTime() <= now;
    case 'claim-confirmed':
      return !n.code;
    case 'draw-result':
      return false;
  }
}

/**
 * Sends one notification, once: a job for a notification that is no longer PENDING does nothing,
 * and one that no longer applies (preference turned off, window moved, hold claimed or gone) is
 * marked SKIPPED. Email goes through the mailer's delivery, recorded under `notify:<id>` (a retry
 * after a send whose record was lost sends nothing); push goes to each of the user's devices,
 * each recorded as it is reached, and a device the push service says is gone (404/410) is removed.
 */
export function createSender(deps: {
  orm: Orm;
  config: Readonly<Config>;
  mailer: Pick<Mailer, 'deliver'>;
  push: PushSender;
  boss: PgBoss;
  logger: Logger;
  sendOptions: () => PgBoss.JobInsert;
  metrics: Pick<Metrics, 'notification'>;
}) {
  const { orm, config, mailer, push, logger, metrics } = deps;
  const base = config.publicUrl ?? `http://localhost:${config.port}`;

  async function finish(id: string, state: 'SENT' | 'SKIPPED', reason: string | null = null): Promise<void> {
    await db(orm.em.fork())
      .updateTable('notification')
      .set({ state, reason, sentAt: state === 'SENT' ? sql<Date>`now()` : null })
      .where('id', '=', id)
      .where('state', '=', 'PENDING')
      .execute();
  }

  async function sendOne(id: string): Promise<void> {
    const em = orm.em.fork();
    const n = await load(em, id);
    if (!n || n.state !== 'PENDING') return;
    if (!n.wanted || (n.channel === 'email' && !n.verified)) return finish(id, 'SKIPPED', 'preference');
    if (stale(n)) return finish(id, 'SKIPPED', 'stale');
    const dropUrl = `${base}/drops/${n.drop}`;
    const at = n.kind === 'window-opens-soon' ? n.claimWindowStart.toISOString() : n.expiresAt ? n.expiresAt.toISOString() : undefined;
    const input: MessageInput = {
      kind: n.kind,
      dropTitle: n.title,
      dropUrl,
      rankingUrl: `${dropUrl}/ranking`,
      settingsUrl: `${base}/account#notifications`,
      detail: n.detail ?? {},
      ...(n.code ? { code: n.code } : {}),
      ...(at ? { at } : {}),
    };
    if (n.channel === 'email') {
      await mailer.deliver(`notify:${id}`, await emailMessage(n.email, input), id);
      return finish(id, 'SENT');
    }
    const subscriptions = await db(em).selectFrom('push_subscription').select(['id', 'endpoint', 'p256dh', 'auth']).where('user', '=', n.user).orderBy('createdAt').execute();
    const message = pushMessage(input, `${n.drop}:${n.kind}`);
    // Worth showing until the moment it is about has passed; a day at most.
    const ttl = at ? Math.min(86_400, (Date.parse(at) - Date.parse(n.now)) / 1000) : 86_400;
    let failed = 0;
    for (const subscription of subscriptions.filter((s) => !n.deliveredTo.includes(s.id))) {
      const outcome = await push.send(subscription, message, id, ttl).catch((error: unknown) => {
        logger.warn({ err: error, notification: id }, 'push delivery failed; it will be retried');
        return 'retry' as const;
      });
      metrics.notification('push', outcome === 'gone' ? 'gone' : outcome === 'delivered' ? 'sent' : 'failed');
      if (outcome === 'gone') {
        await db(em).deleteFrom('push_subscription').where('id', '=', subscription.id).execute();
      } else if (outcome === 'delivered') {
        n.deliveredTo.push(subscription.id);
        await db(em)
          .updateTable('notification')
          .set((eb) => ({ deliveredTo: sql<string[]>`${eb.ref('deliveredTo')} || ${JSON.stringify([subscription.id])}::jsonb` }))
          .where('id', '=', id)
          .execute();
      } else {
        failed++;
      }
    }
    if (failed > 0) throw new Error(`push to ${failed} device(s) failed; retrying`);
    return n.deliveredTo.length > 0 ? finish(id, 'SENT') : finish(id, 'SKIPPED', 'no-device');
  }

  /**
   * A timed trigger's moment: it reads the live drop (or hold) and plans the notifications if it
   * still applies. A moved window or an extended hold has its own trigger at its new instant
   * (planned from the event that moved it), so a trigger for an instant that is no longer the
   * live one does nothing.
   */
  async function runPlan(job: PlanJob): Promise<number> {
    return orm.em.fork().transactional(async (em) => {
      if (job.kind === 'window-opens-soon') {
        const drop = await db(em)
          .selectFrom('drop')
          .select((eb) => ['claimWindowStart', eb('claimWindowStart', '<=', clock).as('open')])
          .where('id', '=', job.dropId)
          .where('isActive', '=', true)
          .executeTakeFirst();
        if (!drop || drop.open || drop.claimWindowStart.toISOString() !== job.start) return 0;
        return insertNotifications(em, deps.boss, waitlisted(job.dropId, 'window-opens-soon', { start: job.start }), deps.sendOptions());
      }
      const hold = await db(em)
        .selectFrom('reservation')
        .select((eb) => ['expiresAt', eb.and([eb('status', '=', 'GRANTED'), eb('suspendedAt', 'is', null), eb('expiresAt', '>', clock)]).as('live')])
        .where('drop', '=', job.dropId)
        .where('user', '=', job.userId)
        .executeTakeFirst();
      if (!hold?.live || hold.expiresAt?.toISOString() !== job.expiresAt) return 0;
      return insertNotifications(em, deps.boss, listed([{ userId: job.userId, dropId: job.dropId, kind: 'reservation-expiring', detail: { expiresAt: job.expiresAt } }]), deps.sendOptions());
    });
  }

  return { sendOne, runPlan };
}
