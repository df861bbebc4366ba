/**
 * Turns a storm of changes into at most one run per interval. The first change after a quiet
 * interval runs at once; later ones are folded into one run at the end of the interval. Each run
 * reads the latest values when it starts, and a change that arrives while a run is in flight
 * schedules another, so the last change always goes out. A failed run is tried again after the
 * interval, or the last change could be lost.
 */
export function createCoalescer(deps: {
  intervalMs: number;
  run: () => Promise<void>;
  onError: (error: unknown) => void;
  settled: () => void;
  /** After a run that succeeded: how long since the first change it carried (metrics). */
  ran?: (sinceFirstChangeMs: number) => void;
}) {
  let lastRun = 0;
  /** When the oldest change not yet carried by a run arrived. */
  let dirtySince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let dirty = false;
  let closed = false;

  async function flush(): Promise<void> {
    timer = undefined;
    dirty = false;
    running = true;
    const since = dirtySince;
    dirtySince = undefined;
    try {
      await deps.run();
      if (since !== undefined) deps.ran?.(Date.now() - since);
    } catch (error) {
      dirty = true;
      dirtySince ??= since;
      deps.onError(error);
    } finally {
      lastRun = Date.now();
      running = false;
    }
    if (dirty) schedule();
    deps.settled();
  }

  function schedule(): void {
    if (closed || timer || running) return;
    timer = setTimeout(() => void flush(), Math.max(0, lastRun + deps.intervalMs - Date.now()));
  }

  return {
    markDirty(): void {
      dirty = true;
      dirtySince ??= Date.now();
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
