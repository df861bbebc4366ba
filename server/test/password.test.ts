import { readdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { HASH_CONCURRENCY, THREAD_POOL_NICE, THREAD_POOL_SIZE, hashPassword, lowerThreadPoolPriority, verifyPassword } from '../src/modules/auth/password.ts';

describe('password hashing', () => {
  it("stores argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) and verifies only the right password", async () => {
    const stored = await hashPassword('a good long password');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(stored, 'a good long password')).toBe(true);
    expect(await verifyPassword(stored, 'a good long passwore')).toBe(false);
    expect(await verifyPassword('not a hash', 'a good long password')).toBe(false);
  });

  it('keeps a thread of the pool free during a wave of hashes: a file read is not queued behind them', async () => {
    expect(HASH_CONCURRENCY).toBeLessThan(THREAD_POOL_SIZE);
    const wave = 4 * THREAD_POOL_SIZE;
    let hashed = 0;
    const hashes = Array.from({ length: wave }, (_, i) => hashPassword(`password ${i}`).then(() => hashed++));
    // Once this turn's microtasks ran, every hash that will be handed to the pool now has been.
    await new Promise((resolve) => setImmediate(resolve));
    // fs.promises.stat runs on libuv's thread pool, asked for after the whole wave.
    await stat(import.meta.filename);
    const hashedBeforeTheRead = hashed;
    await Promise.all(hashes);
    // With every hash queued in the pool itself, the read waited for all but the last few.
    expect(hashedBeforeTheRead).toBeLessThan(wave - THREAD_POOL_SIZE);
  });

  it.runIf(process.platform === 'linux')('runs the pool (the hashes) below the event loop, once however often the app starts', async () => {
    const niceOfPool = () =>
      readdirSync('/proc/self/task')
        .filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'libuv-worker')
        .map((tid) => os.getPriority(Number(tid)));
    const eventLoop = os.getPriority();
    expect(await lowerThreadPoolPriority()).toBe(THREAD_POOL_SIZE);
    expect(await lowerThreadPoolPriority()).toBe(THREAD_POOL_SIZE);
    expect(niceOfPool()).toEqual(Array.from({ length: THREAD_POOL_SIZE }, () => eventLoop + THREAD_POOL_NICE));
    // The event loop itself keeps its priority.
    expect(os.getPriority()).toBe(eventLoop);
  });
});
