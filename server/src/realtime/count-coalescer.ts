import type { DropCounts } from '@dropspot/protocol';

/**
 * Turns a storm of changes into at most one message per drop per interval. The first change after
 * a quiet interval goes out at once; later ones are folded into one send at the end of the
 * interval. Each send reads the latest values when it runs, and a change that arrives while a
 * send is being prepared schedules another, so the last change always goes out.
 */
export function createCountCoalescer(deps: {
  intervalMs: number;
  read: (dropId: string) => Promise<DropCounts | undefined>;
  send: (counts: DropCounts) => void;
  onError: (error: unknown) => void;
}) {
  interface State {
    lastSent: number;
    timer: NodeJS.Timeout | undefined;
    sending: boolean;
    dirty: boolean;
  }
  const states = new Map<string, State>();
  let closed = false;

  async function flush(dropId: string, state: State): Promise<void> {
    state.timer = undefined;
    state.dirty = false;
    state.sending = true;
    try {
      const counts = await deps.read(dropId);
      if (counts && !closed) deps.send(counts);
    } catch (error) {
      // Not sent: try again after the interval, or the last change could be lost.
      state.dirty = true;
      deps.onError(error);
    } finally {
      state.lastSent = Date.now();
      state.sending = false;
    }
    // A drop forgotten (deleted) meanwhile has a new state or none: this one stops here.
    if (state.dirty && states.get(dropId) === state) schedule(dropId, state);
  }

  function schedule(dropId: string, state: State): void {
    if (closed || state.timer || state.sending) return;
    const wait = Math.max(0, state.lastSent + deps.intervalMs - Date.now());
    state.timer = setTimeout(() => void flush(dropId, state), wait);
  }

  return {
    markDirty(dropId: string): void {
      let state = states.get(dropId);
      if (!state) {
        state = { lastSent: 0, timer: undefined, sending: false, dirty: false };
        states.set(dropId, state);
      }
      state.dirty = true;
      schedule(dropId, state);
    },
    /** A deleted drop needs no more counts. */
    forget(dropId: string): void {
      clearTimeout(states.get(dropId)?.timer);
      states.delete(dropId);
    },
    close(): void {
      closed = true;
      for (const state of states.values()) clearTimeout(state.timer);
      states.clear();
    },
  };
}

export type CountCoalescer = ReturnType<typeof createCountCoalescer>;
