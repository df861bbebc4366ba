import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { NotificationKind } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { emailMessage, pushMessage, type MessageInput } from './messages.ts';
import { insertNotifications, listed, waitlisted, type PlanJob } from './planner.ts';
import type { PushSender } from './web-push.ts';

interface Row {
  id: string;
  user_id: string;
  drop_id: string;
  kind: NotificationKind;
  channel: 'email' | 'push';
  state: string;
  detail: Record<string, unknown> | null;
  delivered_to: string[];
  email: string;
  verified: boolean;
  wanted: boolean;
  title: string;
  is_active: boolean;
  claim_window_start: Date;
  reservation_status: string | null;
  expires_at: Date | null;
  code: string | null;
  now: Date;
}

/** Why a notification no longer applies at its sending, or null when it still does. */
function stale(n: Row): boolean {
  const now = new Date(n.now).getTime();
  switch (n.kind) {
    case 'window-opens-soon': {
      const start = new Date(n.claim_window_start).getTime();
      return !n.is_active || start !== Date.parse(String(n.detail?.start)) || now >= start;
    }
    case 'window-opened':
      return !n.is_active;
    case 'reservation-granted':
    case 'reservation-expiring':
      return n.reservation_status !== 'GRANTED' || !n.expires_at || new Date(n.expires_at).getTime() <= now;
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
    await orm.em.fork().execute(`update "notification" set state = ?, reason = ?, sent_at = case when ? = 'SENT' then now() end where id = ? and state = 'PENDING'`, [state, reason, state, id]);
  }

  async function sendOne(id: string): Promise<void> {
    const em = orm.em.fork();
    const [n] = await em.execute<Row[]>(
      `select n.id, n.user_id, n.drop_id, n.kind, n.channel, n.state, n.detail, n.delivered_to,
              u.email, u.email_verified_at is not null as verified, coalesce(p.enabled, true) as wanted,
              d.title, d.is_active, d.claim_window_start, r.status as reservation_status, r.expires_at, c.code, clock_timestamp() as now
         from "notification" n
         join "user" u on u.id = n.user_id
         join "drop" d on d.id = n.drop_id
         left join "notification_preference" p on p.user_id = n.user_id and p.kind = n.kind and p.channel = n.channel
         left join "reservation" r on r.drop_id = n.drop_id and r.user_id = n.user_id
         left join "claim" c on c.drop_id = n.drop_id and c.user_id = n.user_id
        where n.id = ?`,
      [id],
    );
    if (!n || n.state !== 'PENDING') return;
    if (!n.wanted || (n.channel === 'email' && !n.verified)) return finish(id, 'SKIPPED', 'preference');
    if (stale(n)) return finish(id, 'SKIPPED', 'stale');
    const dropUrl = `${base}/drops/${n.drop_id}`;
    const at = n.kind === 'window-opens-soon' ? new Date(n.claim_window_start).toISOString() : n.expires_at ? new Date(n.expires_at).toISOString() : undefined;
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
    const subscriptions = await em.execute<{ id: string; endpoint: string; p256dh: string; auth: string }[]>(
      `select id, endpoint, p256dh, auth from "push_subscription" where user_id = ? order by created_at`,
      [n.user_id],
    );
    const message = pushMessage(input, `${n.drop_id}:${n.kind}`);
    // Worth showing until the moment it is about has passed; a day at most.
    const ttl = at ? Math.min(86_400, (Date.parse(at) - new Date(n.now).getTime()) / 1000) : 86_400;
    let failed = 0;
    for (const subscription of subscriptions.filter((s) => !n.delivered_to.includes(s.id))) {
      const outcome = await push.send(subscription, message, id, ttl).catch((error: unknown) => {
        logger.warn({ err: error, notification: id }, 'push delivery failed; it will be retried');
        return 'retry' as const;
      });
      metrics.notification('push', outcome === 'gone' ? 'gone' : outcome === 'delivered' ? 'sent' : 'failed');
      if (outcome === 'gone') {
        await em.execute(`delete from "push_subscription" where id = ?`, [subscription.id]);
      } else if (outcome === 'delivered') {
        n.delivered_to.push(subscription.id);
        await em.execute(`update "notification" set delivered_to = delivered_to || ?::jsonb where id = ?`, [JSON.stringify([subscription.id]), id]);
      } else {
        failed++;
      }
    }
    if (failed > 0) throw new Error(`push to ${failed} device(s) failed; retrying`);
    return n.delivered_to.length > 0 ? finish(id, 'SENT') : finish(id, 'SKIPPED', 'no-device');
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
        const [drop] = await em.execute<{ start: Date; open: boolean }[]>(
          `select claim_window_start as start, claim_window_start <= clock_timestamp() as open from "drop" where id = ? and is_active`,
          [job.dropId],
        );
        if (!drop || drop.open || new Date(drop.start).toISOString() !== job.start) return 0;
        return insertNotifications(em, deps.boss, waitlisted(job.dropId, 'window-opens-soon', { start: job.start }), deps.sendOptions());
      }
      const [hold] = await em.execute<{ expires_at: Date; live: boolean }[]>(
        `select expires_at, status = 'GRANTED' and suspended_at is null and expires_at > clock_timestamp() as live from "reservation" where drop_id = ? and user_id = ?`,
        [job.dropId, job.userId],
      );
      if (!hold?.live || new Date(hold.expires_at).toISOString() !== job.expiresAt) return 0;
      return insertNotifications(em, deps.boss, listed([{ userId: job.userId, dropId: job.dropId, kind: 'reservation-expiring', detail: { expiresAt: job.expiresAt } }]), deps.sendOptions());
    });
  }

  return { sendOne, runPlan };
}
