import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { HASH_CONCURRENCY, THREAD_POOL_SIZE, hashPassword, verifyPassword } from '../src/modules/auth/password.ts';

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
});
