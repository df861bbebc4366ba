import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Orm } from '../db/orm.ts';
import { DropSchema } from '../modules/drops/drop.entity.ts';
import { toDropView } from '../modules/drops/drop.view.ts';
import { recordEvent, type EventNotifier } from '../modules/events/outbox.ts';
import { WaitlistSchema } from '../modules/waitlist/waitlist.entity.ts';

/** setTimeout cannot wait longer than ~24.8 days; further instants are picked up by a later rebuild. */
const HORIZON_MS = 24 * 86_400_000;
const REBUILD_MS = 60 * 60_000;

/**
 * Holds a timer for each upcoming window start and end, so watchers hear `opened` and `closed`
 * at the instant. The timer only announces: claims are judged by the database clock in the claim
 * transaction. Each announcement is an outbox event with a dedupe key, so several processes
 * holding the same timers still record it once. Rebuilt from the database at start, hourly,
 * and for one drop whenever its window changes.
 */
export function createWindowScheduler(deps: { orm: Orm; logger: Logger; notifier: EventNotifier }) {
  const { orm, logger, notifier } = deps;
  const timers = new Map<string, NodeJS.Timeout[]>();
  /** Bumped by every (re)scheduling: a slower read that started earlier must not win. */
  const versions = new Map<string, number>();
  let rebuildGeneration = 0;
  let rebuildTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function announce(dropId: string, edge: 'opened' | 'closed', instant: Date): Promise<void> {
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
  }

  function cancel(dropId: string): void {
    for (const timer of timers.get(dropId) ?? []) clearTimeout(timer);
    timers.delete(dropId);
  }

  function schedule(drop: { id: string; claimWindowStart: Date; claimWindowEnd: Date }): void {
    cancel(drop.id);
    const now = Date.now();
    const list: NodeJS.Timeout[] = [];
    for (const [edge, instant] of [['opened', drop.claimWindowStart], ['closed', drop.claimWindowEnd]] as const) {
      const wait = instant.getTime() - now;
      if (wait < 0 || wait > HORIZON_MS) continue;
      const timer = setTimeout(() => {
        announce(drop.id, edge, instant).catch((error: unknown) => logger.warn({ err: error, dropId: drop.id, edge }, 'window announcement failed'));
      }, wait);
      list.push(timer);
    }
    if (list.length > 0) timers.set(drop.id, list);
  }

  const bump = (dropId: string) => {
    const version = (versions.get(dropId) ?? 0) + 1;
    versions.set(dropId, version);
    return version;
  };

  async function rebuild(): Promise<void> {
    const generation = ++rebuildGeneration;
    const started = new Map(versions);
    const now = new Date();
    const drops = await orm.em
      .fork()
      .find(DropSchema, { isActive: true, claimWindowEnd: { $gt: now }, claimWindowStart: { $lt: new Date(now.getTime() + HORIZON_MS) } });
    if (stopped || generation !== rebuildGeneration) return;
    const found = new Set(drops.map((d) => d.id));
    // Drops rescheduled by a reload while this read ran keep their newer timers.
    const untouched = (id: string) => versions.get(id) === started.get(id);
    for (const id of [...timers.keys()]) if (!found.has(id) && untouched(id)) cancel(id);
    for (const drop of drops) if (untouched(drop.id)) schedule(drop);
  }

  return {
    async start(): Promise<void> {
      await rebuild();
      rebuildTimer = setInterval(() => {
        rebuild().catch((error: unknown) => logger.warn({ err: error }, 'window scheduler rebuild failed'));
      }, REBUILD_MS);
      rebuildTimer.unref();
    },
    /** Re-reads one drop's window (after an admin change, here or in another process). */
    async reload(dropId: string): Promise<void> {
      if (stopped) return;
      const version = bump(dropId);
      const drop = await orm.em.fork().findOne(DropSchema, { id: dropId, isActive: true });
      if (stopped || versions.get(dropId) !== version) return;
      if (drop) schedule(drop);
      else cancel(dropId);
    },
    cancel,
    stop(): void {
      stopped = true;
      clearInterval(rebuildTimer);
      for (const id of [...timers.keys()]) cancel(id);
      versions.clear();
    },
  };
}

export type WindowScheduler = ReturnType<typeof createWindowScheduler>;
