/**
 * Turns a storm of changes into at most one run per interval. The first change after a quiet
 * interval runs at once; later ones are folded into one run at the end of the interval. Each run
 * reads the latest values when it starts, and a change that arrives while a run is in flight
 * schedules another, so the last change always goes out. A failed run is tried again after the
 * interval, or the last change could be lost.
 */
export function createCoalescer(deps: { intervalMs: number; run: () => Promise<void>; onError: (error: unknown) => void; settled: () => void }) {
  let lastRun = 0;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let dirty = false;
  let closed = false;

  async function flush(): Promise<void> {
    timer = undefined;
    dirty = false;
    running = true;
    try {
      await deps.run();
    } catch (error) {
      dirty = true;
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
