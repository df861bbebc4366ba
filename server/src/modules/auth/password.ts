import os from 'node:os';
import { hash, verify } from '@node-rs/argon2';
import pLimit from 'p-limit';

/**
 * argon2id (the library's default algorithm) at OWASP's recommended minimum: 19 MiB, 2 passes,
 * 1 lane (the Password Storage Cheat Sheet's first configuration).
 */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** libuv's thread pool: UV_THREADPOOL_SIZE, 4 when unset. */
export const THREAD_POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/**
 * Hashes and verifications running at once. @node-rs/argon2 works on libuv's thread pool, which
 * also serves file reads (the client's assets), DNS lookups and node:crypto's async work (the
 * proof-of-work challenges). Each hash is one lane on one core, so more at once than there are
 * cores adds no throughput; and a wave of sign-ups queued in the pool itself would hold every
 * other job of the pool behind all of them. So at most one per core, always leaving a thread free.
 */
export const HASH_CONCURRENCY = Math.max(1, Math.min(os.availableParallelism(), THREAD_POOL_SIZE - 1));
const gate = pLimit(HASH_CONCURRENCY);

export function hashPassword(password: string): Promise<string> {
  return gate(() => hash(password, ARGON2_OPTIONS));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await gate(() => verify(passwordHash, password));
  } catch {
    return false;
  }
}

/** Verified against when an email is unknown, so a login takes as long whether or not the account exists. */
let dummyHash: Promise<string> | undefined;
export function timingDummyHash(): Promise<string> {
  dummyHash ??= hashPassword('dropspot-timing-equaliser');
  return dummyHash;
}
