import type { Logger } from 'pino';
import { createCoalescer } from './count-coalescer.ts';
import { HORIZON_MS, type DropWindow } from './window-store.ts';

/** A line tick that fails (database away) is tried again after this long. */
const LINE_RETRY_MS = 1000;

export interface DropRoomDeps {
  logger: Logger;
  countIntervalMs: number;
  /** A change in the watcher number alone: each counts message reaches the whole room, so a crowd joining is told at this pace. */
  watcherCountIntervalMs: number;
  positionIntervalMs: number;
  /** Reads the drop's counts and sends them to its watchers and the lobby. */
  /** Sends the drop's counts; resolves with how long the write to the room held the event loop (ms). */
  sendCounts: (dropId: string) => Promise<number>;
  /** A counts message went out, this long after the first change it carries (metrics). */
  countsSent?: (delayMs: number) => void;
  /** Pushes places in line to the room's signed-in watchers whose place moved. */
  pushPositions: (room: DropRoom) => Promise<void>;
  /** Records `opened` / `closed` at the instant (see `createWindowStore`). */
  announce: (dropId: string, edge: 'opened' | 'closed', instant: Date) => Promise<void>;
  window: (dropId: string) => Promise<DropWindow | null>;
  /** PRIORITY: does the line's due work; answers when it next needs work. */
  tick: (dropId: string) => Promise<Date | null>;
  nextInstant: (dropId: string) => Promise<Date | null>;
  /** Told when the room may have nothing left to do (the registry then disposes it if nobody watches). */
  settled: (room: DropRoom) => void;
}

export interface DropRoom {
  readonly dropId: string;
  /** PRIORITY drops: claims move the line too (FCFS claims do not touch positions). */
  priority: boolean;
  /** What each signed-in watcher was last told about its place in a frozen PRIORITY line. */
  readonly lastLine: Map<string, string>;
  /** Each signed-in watcher's last pushed waitlist position. */
  readonly lastPositions: Map<string, number>;
  /** `urgent`: the drop just sold out; every screen must hear it without the pause a huge room takes. */
  markCounts(urgent?: boolean): void;
  /** A watcher came or went: the counts carry it within `watcherCountIntervalMs` (sooner with any other change). */
  markWatchers(): void;
  markPositions(): void;
  /** Re-reads the drop's window instants (after an admin change, here or in another process). */
  reloadWindow(): Promise<void>;
  /** Sets the window timers from a rebuild's read (which checked `windowVersion` first). */
  scheduleWindow(window: DropWindow | null): void;
  windowVersion(): number;
  /** Re-reads when the line next needs work (after any change to it, here or in another process). */
  reloadLine(): Promise<void>;
  /** Nothing scheduled, nothing running: only watchers could still need the room. */
  idle(): boolean;
  dispose(): void;
}

/**
 * Everything live about one drop in this process: its clock (a timer at each window instant ahead
 * and, for a PRIORITY drop, one at the next instant its line needs work), its coalesced counts and
 * positions, and the caches of what its watchers were last told. `dispose()` frees all of it.
 *
 * Timers only trigger reads and announcements that the database judges (an instant that moved is
 * not announced; a line tick a millisecond early finds nothing due and is set again). Each read
 * bumps a version, so a slower, older read never overwrites a newer one.
 */
export function createDropRoom(dropId: string, deps: DropRoomDeps): DropRoom {
  const { logger } = deps;
  let disposed = false;
  /** Reads and ticks in flight: the room is not idle while one runs. */
  let busy = 0;
  let windowTimers: NodeJS.Timeout[] = [];
  let windowVersion = 0;
  let line: { at: number; timer: NodeJS.Timeout } | undefined;
  let lineVersion = 0;
  let lineRunning = false;
  let lineAgain = false;

  async function track(work: () => Promise<void>): Promise<void> {
    busy++;
    try {
      await work();
    } finally {
      busy--;
      deps.settled(room);
    }
  }

  function scheduleWindow(window: DropWindow | null): void {
    for (const timer of windowTimers) clearTimeout(timer);
    windowTimers = [];
    if (disposed || !window) return;
    const now = Date.now();
    for (const [edge, instant] of [['opened', window.claimWindowStart], ['closed', window.claimWindowEnd]] as const) {
      const wait = instant.getTime() - now;
      if (wait < 0 || wait > HORIZON_MS) continue;
      const timer = setTimeout(() => {
        windowTimers = windowTimers.filter((t) => t !== timer);
        void track(() => deps.announce(dropId, edge, instant)).catch((error: unknown) => logger.warn({ err: error, dropId, edge }, 'window announcement failed'));
      }, wait);
      windowTimers.push(timer);
    }
  }

  function scheduleLine(at: Date | null): void {
    if (disposed) return;
    if (line && at && line.at === at.getTime()) return;
    clearTimeout(line?.timer);
    line = undefined;
    if (!at) return;
    const wait = Math.max(0, at.getTime() - Date.now());
    if (wait > HORIZON_MS) return;
    // +1 ms: Node may fire a timer a fraction of a millisecond early; the database would then find nothing due yet.
    line = { at: at.getTime(), timer: setTimeout(() => void runLine(), wait + 1) };
  }

  async function runLine(): Promise<void> {
    line = undefined;
    if (disposed) return;
    if (lineRunning) {
      lineAgain = true;
      return;
    }
    lineRunning = true;
    await track(async () => {
      try {
        const next = await deps.tick(dropId);
        lineVersion++;
        scheduleLine(next && next.getTime() <= Date.now() ? new Date(Date.now() + 5) : next);
      } catch (error) {
        logger.warn({ err: error, dropId }, 'line tick failed; retrying');
        scheduleLine(new Date(Date.now() + LINE_RETRY_MS));
      } finally {
        lineRunning = false;
        if (lineAgain) {
          lineAgain = false;
          void reloadLine().catch((error: unknown) => logger.warn({ err: error, dropId }, 'line reload failed'));
        }
      }
    });
  }

  async function reloadLine(): Promise<void> {
    if (disposed) return;
    if (lineRunning) {
      lineAgain = true;
      return;
    }
    await track(async () => {
      const version = ++lineVersion;
      const next = await deps.nextInstant(dropId);
      if (version === lineVersion) scheduleLine(next);
    });
  }

  const counts = createCoalescer({
    intervalMs: deps.countIntervalMs,
    minorIntervalMs: deps.watcherCountIntervalMs,
    run: () => deps.sendCounts(dropId),
    onError: (error) => logger.warn({ err: error, dropId }, 'could not read drop counts'),
    settled: () => deps.settled(room),
    ran: deps.countsSent,
  });
  const positions = createCoalescer({
    intervalMs: deps.positionIntervalMs,
    run: () => deps.pushPositions(room),
    onError: (error) => logger.warn({ err: error, dropId }, 'could not push waitlist positions'),
    settled: () => deps.settled(room),
  });

  const room: DropRoom = {
    dropId,
    priority: false,
    lastLine: new Map(),
    lastPositions: new Map(),
    markCounts: (urgent) => counts.markDirty(urgent),
    markWatchers: () => counts.markMinor(),
    markPositions: () => positions.markDirty(),
    reloadWindow: () =>
      track(async () => {
        const version = ++windowVersion;
        const window = await deps.window(dropId);
        if (version === windowVersion) scheduleWindow(window);
      }),
    scheduleWindow,
    windowVersion: () => windowVersion,
    reloadLine,
    idle: () => busy === 0 && windowTimers.length === 0 && !line && !lineRunning && counts.idle() && positions.idle(),
    dispose(): void {
      disposed = true;
      scheduleWindow(null);
      clearTimeout(line?.timer);
      line = undefined;
      counts.close();
      positions.close();
      room.lastLine.clear();
      room.lastPositions.clear();
    },
  };
  return room;
}
