import { afterEach, describe, expect, it, vi } from 'vitest';
import { quietGate } from '../src/send-worker-supervisor.ts';

/** The send worker's gate: a batch waits while the server is busy, never longer than the bound. */
describe('the send worker gives way to a busy server', () => {
  afterEach(() => vi.useRealTimers());

  const settled = async (promise: Promise<void>) => {
    let done = false;
    void promise.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    return () => done;
  };

  it('goes on at once while the server is not busy', async () => {
    vi.useFakeTimers();
    const gate = quietGate(2000);
    expect((await settled(gate.whenQuiet()))()).toBe(true);
  });

  it('holds a batch while the server is busy and lets it go when the server says it is calm again', async () => {
    vi.useFakeTimers();
    const gate = quietGate(2000);
    gate.set(true);
    const first = await settled(gate.whenQuiet());
    const second = await settled(gate.whenQuiet());
    await vi.advanceTimersByTimeAsync(1500);
    expect([first(), second()]).toEqual([false, false]);
    gate.set(false);
    await vi.advanceTimersByTimeAsync(0);
    expect([first(), second()]).toEqual([true, true]);
  });

  it('lets a batch go after the bound when the server stays busy, so sending slows but never stops', async () => {
    vi.useFakeTimers();
    const gate = quietGate(2000);
    gate.set(true);
    const waiting = await settled(gate.whenQuiet());
    await vi.advanceTimersByTimeAsync(1999);
    expect(waiting()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting()).toBe(true);
    // Still busy: the next batch waits its own bound again.
    const next = await settled(gate.whenQuiet());
    expect(next()).toBe(false);
  });
});
