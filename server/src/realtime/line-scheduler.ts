import type { Logger } from 'pino';
import type { ReservationService } from '../modules/reservations/reservation.service.ts';

/** setTimeout cannot wait longer than ~24.8 days; further instants are picked up by a later rebuild. */
const HORIZON_MS = 24 * 86_400_000;
const REBUILD_MS = 60_000;
/** A tick that fails (database away) is tried again after this long. */
const RETRY_MS = 1000;

/**
 * One timer per PRIORITY drop, at the next instant its line needs work: the window's opening
 * (freeze the ranking, grant the first reservations) or the earliest open hold's end (expire it,
 * pass it on). A timer only triggers `tick`, which judges everything by the database clock under
 * the drop's row lock; a timer that fires a millisecond early finds nothing due and is set again.
 * Rebuilt from the database at start (so holds that ran out while no process was up are
 * expired and passed on at once), every minute, and for a drop whenever its line or window changes.
 */
export function createLineScheduler(deps: { reservations: Pick<ReservationService, 'tick' | 'nextInstant' | 'pendingDrops'>; logger: Logger }) {
  const { reservations, logger } = deps;
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** Drops whose tick is running; a reload meanwhile is folded into one more tick afterwards. */
  const running = new Set<string>();
  const again = new Set<string>();
  /** Bumped by every read of a drop's next instant: a slower, older read must not overwrite a newer one. */
  const versions = new Map<string, number>();
  let rebuildTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  function cancel(dropId: string): void {
    const entry = timers.get(dropId);
    if (entry) clearTimeout(entry.timer);
    timers.delete(dropId);
  }

  function schedule(dropId: string, at: Date | null): void {
    if (stopped) return;
    if (!at) {
      cancel(dropId);
      return;
    }
    const when = at.getTime();
    const existing = timers.get(dropId);
    if (existing && existing.at === when) return;
    cancel(dropId);
    const wait = Math.max(0, when - Date.now());
    if (wait > HORIZON_MS) return;
    // +1 ms: Node may fire a timer a fraction of a millisecond early; the database would then find nothing due yet.
    const timer = setTimeout(() => void run(dropId), wait + 1);
    timers.set(dropId, { at: when, timer });
  }

  async function run(dropId: string): Promise<void> {
    timers.delete(dropId);
    if (stopped) return;
    if (running.has(dropId)) {
      again.add(dropId);
      return;
    }
    running.add(dropId);
    try {
      const next = await reservations.tick(dropId);
      versions.set(dropId, (versions.get(dropId) ?? 0) + 1);
      schedule(dropId, next && next.getTime() <= Date.now() ? new Date(Date.now() + 5) : next);
    } catch (error) {
      logger.warn({ err: error, dropId }, 'line tick failed; retrying');
      schedule(dropId, new Date(Date.now() + RETRY_MS));
    } finally {
      running.delete(dropId);
      if (again.delete(dropId)) void reload(dropId);
    }
  }

  /** Re-reads when a drop's line next needs work (after any change to it, here or in another process). */
  async function reload(dropId: string): Promise<void> {
    if (stopped) return;
    if (running.has(dropId)) {
      again.add(dropId);
      return;
    }
    const version = (versions.get(dropId) ?? 0) + 1;
    versions.set(dropId, version);
    const next = await reservations.nextInstant(dropId);
    if (versions.get(dropId) === version) schedule(dropId, next);
  }

  async function rebuild(): Promise<void> {
    for (const dropId of await reservations.pendingDrops()) await reload(dropId);
  }

  return {
    async start(): Promise<void> {
      await rebuild();
      rebuildTimer = setInterval(() => {
        rebuild().catch((error: unknown) => logger.warn({ err: error }, 'line scheduler rebuild failed'));
      }, REBUILD_MS);
      rebuildTimer.unref();
    },
    reload,
    stop(): void {
      stopped = true;
      clearInterval(rebuildTimer);
      for (const id of [...timers.keys()]) cancel(id);
      versions.clear();
    },
  };
}

export type LineScheduler = ReturnType<typeof createLineScheduler>;
