/**
 * Turns a storm of changes into at most one run per interval. The first change after a quiet
 * interval runs at once; later ones are folded into one run at the end of the interval. Each run
 * reads the latest values when it starts, and a change that arrives while a run is in flight
 * schedules another, so the last change always goes out. A failed run is tried again after the
 * interval, or the last change could be lost.
 *
 * A minor change (`markMinor`: a drop's watcher number) waits for `minorIntervalMs` instead,
 * unless a change that matters sooner carries it: each run reaches every socket of the room, so
 * a crowd arriving would otherwise cost a message to everyone already there at every interval.
 *
 * A run that holds the event loop longer than the interval (one message written to 20,000 sockets
 * takes a few hundred milliseconds; the run reports it, its waits for the database aside) is
 * followed by a pause at least as long, so
 * messages to a huge room never hold more than half of the event loop and claims keep being
 * answered in between; the last change still goes out, one run later at most. An urgent change
 * (the sell-out) skips the pause: only the interval and the run in flight stand before it.
 */
export function createCoalescer(deps: {
  intervalMs: number;
  /** The longest a minor change waits after the last run (default: `intervalMs`). */
  minorIntervalMs?: number;
  /** Resolves with how long the run held the event loop (ms), when it knows: the pause after it. */
  run: () => Promise<number | void>;
  onError: (error: unknown) => void;
  settled: () => void;
  /** After a run that succeeded: how long since the first change it carried that was not minor (metrics). */
  ran?: (sinceFirstChangeMs: number) => void;
}) {
  const minorIntervalMs = Math.max(deps.intervalMs, deps.minorIntervalMs ?? deps.intervalMs);
  let lastRun = 0;
  /** How long the last run held the event loop (what it reported; waiting for the database is not counted). */
  let lastDuration = 0;
  /** When the oldest change not yet carried by a run arrived (minor ones aside). */
  let dirtySince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires. */
  let timerAt = 0;
  let running = false;
  /**
   * What waits for a run: nothing (0), only minor changes (1), a change due within `intervalMs`
   * after the pause (2), or one due within `intervalMs` whatever the last run cost (3: a sell-out).
   */
  let pending: 0 | 1 | 2 | 3 = 0;
  const raise = (to: 1 | 2 | 3) => {
    pending = Math.max(pending, to) as 1 | 2 | 3;
  };
  let closed = false;

  async function flush(): Promise<void> {
    timer = undefined;
    const carried = pending;
    pending = 0;
    running = true;
    lastDuration = 0;
    const since = dirtySince;
    dirtySince = undefined;
    try {
      const held = await deps.run();
      lastDuration = typeof held === 'number' ? held : 0;
      if (since !== undefined) deps.ran?.(Date.now() - since);
    } catch (error) {
      if (carried > 0) raise(carried as 1 | 2 | 3);
      dirtySince ??= since;
      deps.onError(error);
    } finally {
      lastRun = Date.now();
      running = false;
    }
    if (pending > 0) schedule();
    deps.settled();
  }

  function schedule(): void {
    if (closed || running || pending === 0) return;
    const at = lastRun + (pending === 3 ? deps.intervalMs : Math.max(pending === 2 ? deps.intervalMs : minorIntervalMs, lastDuration));
    if (timer) {
      if (timerAt <= at) return;
      clearTimeout(timer);
    }
    timerAt = at;
    timer = setTimeout(() => void flush(), Math.max(0, at - Date.now()));
  }

  return {
    /** `urgent`: news every screen must show at once (the last slot went), not held by the pause. */
    markDirty(urgent = false): void {
      raise(urgent ? 3 : 2);
      dirtySince ??= Date.now();
      schedule();
    },
    markMinor(): void {
      raise(1);
      schedule();
    },
    /** Nothing waiting and nothing running. */
    idle: () => !timer && !running,
    close(): void {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

export type Coalescer = ReturnType<typeof createCoalescer>;
