import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { DropCounts, StreamEvent } from '@dropspot/protocol';
import { createCoalescer } from '../src/realtime/count-coalescer.ts';
import { createStreamDelivery } from '../src/realtime/stream-delivery.ts';
import { sleep } from './support/sockets.ts';

const event = (id: number): StreamEvent => ({ id, type: 'drop.created', dropId: null, at: new Date().toISOString(), payload: {} });

function fakeSocket() {
  const got: number[] = [];
  const socket = { id: String(Math.random()), emit: (_name: string, e: StreamEvent) => got.push(e.id), disconnect: () => {}, once: () => {} };
  return { socket: socket as never, got };
}

describe('stream delivery', () => {
  it('fills a gap from the database before a later live event, in order, without repeats', async () => {
    const published = [1, 2, 3, 4, 5].map(event);
    const delivery = createStreamDelivery({
      after: async (cursor, limit) => published.filter((e) => e.id > cursor).slice(0, limit),
      logger: pino({ level: 'silent' }),
    });
    const { socket, got } = fakeSocket();
    delivery.attach(socket, 2);
    // Live events race the replay, and one arrives before the ids below it reached this process.
    delivery.deliver(event(5));
    delivery.deliver(event(3));
    await vi.waitFor(() => expect(got).toHaveLength(3));
    delivery.deliver(event(4));
    delivery.deliver(event(6));
    await vi.waitFor(() => expect(got).toEqual([3, 4, 5, 6]));
  });
});

describe('count coalescer', () => {
  const counts = (claimed: number): DropCounts => ({ dropId: 'd', totalSlots: 10, claimed, remaining: 10 - claimed, waitlistCount: 0, watchers: 0, serverNow: '' });

  it('sends at most one message per interval, always the latest, and retries a failed read', async () => {
    let claimed = 0;
    let failOnce = true;
    const sent: number[] = [];
    const read = async () => {
      if (claimed === 10 && failOnce) {
        failOnce = false;
        throw new Error('pool timeout');
      }
      return counts(claimed);
    };
    const coalescer = createCoalescer({
      intervalMs: 50,
      run: async () => void sent.push((await read()).claimed),
      onError: () => {},
      settled: () => {},
    });
    for (let i = 1; i <= 10; i++) {
      claimed = i;
      coalescer.markDirty();
      // Changes spread over several intervals, as a storm's are: the spacing is the input.
      await sleep(8);
    }
    // "At most one per interval" is about what does not get sent: only waiting a while can show it.
    await sleep(250);
    coalescer.close();
    expect(sent.length).toBeLessThanOrEqual(4);
    expect(sent.at(-1)).toBe(10);
  });

  it('pauses after a run at least as long as the run took, so a huge room never takes more than half the event loop; the last change still goes out, and a sell-out skips the pause', async () => {
    vi.useFakeTimers();
    try {
      let claimed = 0;
      const runs: { start: number; end: number; claimed: number }[] = [];
      const coalescer = createCoalescer({
        intervalMs: 100,
        run: async () => {
          const start = Date.now();
          // Writing to every socket of the room: 300 ms of the event loop, as at 20,000 watchers.
          vi.setSystemTime(start + 300);
          runs.push({ start, end: Date.now(), claimed });
          return 300;
        },
        onError: () => {},
        settled: () => {},
      });
      // A storm: a claim every 10 ms for 3 s.
      for (let i = 0; i < 300; i++) {
        claimed += 1;
        coalescer.markDirty();
        await vi.advanceTimersByTimeAsync(10);
      }
      await vi.advanceTimersByTimeAsync(2000);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.start - runs[i - 1]!.end).toBeGreaterThanOrEqual(300);
      expect(runs.at(-1)!.claimed).toBe(300);
      // The sell-out does not wait for the pause: only the interval.
      claimed = 301;
      coalescer.markDirty();
      await vi.advanceTimersByTimeAsync(0);
      const busyUntil = runs.at(-1)!.end;
      claimed = 302;
      coalescer.markDirty(true);
      await vi.advanceTimersByTimeAsync(100);
      expect(runs.at(-1)!.claimed).toBe(302);
      expect(runs.at(-1)!.start - busyUntil).toBeLessThanOrEqual(100);
      coalescer.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not pause after a run that waited (for the database, for another process) rather than held the event loop', async () => {
    vi.useFakeTimers();
    try {
      const starts: number[] = [];
      const coalescer = createCoalescer({
        intervalMs: 100,
        run: async () => {
          starts.push(Date.now());
          await new Promise((resolve) => setTimeout(resolve, 1000)); // a slow read, the loop free meanwhile
          return 2; // the write itself: 2 ms
        },
        onError: () => {},
        settled: () => {},
      });
      coalescer.markDirty();
      await vi.advanceTimersByTimeAsync(0);
      coalescer.markDirty(); // while the slow run is in flight
      await vi.advanceTimersByTimeAsync(1100);
      expect(starts).toEqual([starts[0], starts[0]! + 1100]);
      coalescer.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('tells a crowd arriving its watcher number once per minor interval, and a claim at once with it', async () => {
    vi.useFakeTimers();
    try {
      let watchers = 0;
      let claimed = 0;
      const sent: { watchers: number; claimed: number }[] = [];
      const coalescer = createCoalescer({ intervalMs: 100, minorIntervalMs: 1000, run: async () => void sent.push({ watchers, claimed }), onError: () => {}, settled: () => {} });
      // The first watcher after a quiet time is told at once.
      watchers = 1;
      coalescer.markMinor();
      await vi.advanceTimersByTimeAsync(0);
      expect(sent).toEqual([{ watchers: 1, claimed: 0 }]);
      // A crowd: one joins every 10 ms; none of them costs a message before the minor interval is up…
      for (let i = 0; i < 90; i++) {
        watchers += 1;
        coalescer.markMinor();
        await vi.advanceTimersByTimeAsync(10);
      }
      expect(sent).toHaveLength(1);
      // …then one message carries them all.
      await vi.advanceTimersByTimeAsync(100);
      expect(sent).toEqual([{ watchers: 1, claimed: 0 }, { watchers: 91, claimed: 0 }]);
      // More arrive, then a claim: the claim goes out within the (short) interval, carrying them.
      watchers += 5;
      coalescer.markMinor();
      await vi.advanceTimersByTimeAsync(50);
      claimed = 1;
      coalescer.markDirty();
      await vi.advanceTimersByTimeAsync(100);
      expect(sent.at(-1)).toEqual({ watchers: 96, claimed: 1 });
      expect(sent).toHaveLength(3);
      // Nothing is left waiting: the minor change went out with the claim.
      await vi.advanceTimersByTimeAsync(2000);
      expect(sent).toHaveLength(3);
      expect(coalescer.idle()).toBe(true);
      coalescer.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
