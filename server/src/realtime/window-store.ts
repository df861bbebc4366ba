import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.ts';
import { DropSchema } from '../modules/drops/drop.entity.ts';
import { toDropView } from '../modules/drops/drop.view.ts';
import { recordEvent, type EventNotifier } from '../modules/events/outbox.ts';
import { WaitlistSchema } from '../modules/waitlist/waitlist.entity.ts';

/** setTimeout cannot wait longer than ~24.8 days; further instants are picked up by a later rebuild. */
export const HORIZON_MS = 24 * 86_400_000;

export interface DropWindow {
  id: string;
  claimWindowStart: Date;
  claimWindowEnd: Date;
}

/**
 * What a drop room's window clock reads and writes. Its timers only announce, so watchers hear
 * `opened` and `closed` at the instant: claims are judged by the database clock in the claim
 * transaction. Each announcement is an outbox event with a dedupe key, so several processes
 * holding the same timers still record it once.
 */
export function createWindowStore(deps: { orm: Orm; notifier: EventNotifier }) {
  const { orm, notifier } = deps;
  return {
    async announce(dropId: string, edge: 'opened' | 'closed', instant: Date): Promise<void> {
      const em = orm.em.fork();
      const drop = await em.findOne(DropSchema, { id: dropId, isActive: true });
      const stillThere = drop && (edge === 'opened' ? drop.claimWindowStart : drop.claimWindowEnd).getTime() === instant.getTime();
      if (!drop || !stillThere) return;
      const waitlistCount = await em.count(WaitlistSchema, { drop: dropId });
      recordEvent(em, {
        type: edge === 'opened' ? 'window.opened' : 'window.closed',
        dropId,
        payload: { drop: toDropView(drop, waitlistCount, new Date()), action: 'scheduled' },
        dedupeKey: `window.${edge}:${dropId}:${instant.toISOString()}`,
      });
      try {
        await em.flush();
      } catch (error) {
        // Another process announced this instant first.
        if (!(error instanceof UniqueConstraintViolationException)) throw error;
        return;
      }
      notifier.committed();
    },
    /** One active drop's window, or null. */
    async window(dropId: string): Promise<DropWindow | null> {
      return orm.em.fork().findOne(DropSchema, { id: dropId, isActive: true });
    },
    /** Active drops with a window instant still ahead, within the horizon. */
    async upcoming(): Promise<DropWindow[]> {
      const now = new Date();
      const horizon = new Date(now.getTime() + HORIZON_MS);
      return orm.em.fork().find(DropSchema, { isActive: true, claimWindowEnd: { $gt: now }, claimWindowStart: { $lt: horizon } });
    },
  };
}

export type WindowStore = ReturnType<typeof createWindowStore>;
