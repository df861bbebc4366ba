import { readdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
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

/** How much lower than the event loop libuv's pool runs (nice +5: about a third of its CPU share when both want a core). */
export const THREAD_POOL_NICE = 5;

/**
 * Linux: libuv's pool threads at a lower CPU priority than the event loop (a thread's nice value
 * is its own there). During a wave of sign-ups the hashes would otherwise take both cores from
 * the event loop and PostgreSQL, and claims would wait behind them; now the claims go first and
 * the hashes take what is left, which on an idle machine is everything (the same sign-ups/s).
 * The pool's other work (file reads, DNS, the proof-of-work key derivation) is short. Returns
 * how many threads were lowered (0 elsewhere, or if the system refused).
 */
export async function lowerThreadPoolPriority(nice = THREAD_POOL_NICE): Promise<number> {
  if (process.platform !== 'linux') return 0;
  // libuv starts all the pool's threads at its first job.
  await stat('/');
  // Relative to the event loop's own (this thread's), so starting a second app in one process changes nothing.
  const target = Math.min(19, os.getPriority() + nice);
  let lowered = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'libuv-worker') continue;
      os.setPriority(Number(tid), target);
      lowered++;
    } catch {
      // a thread that ended, or a system that does not allow it: it keeps its priority
    }
  }
  return lowered;
}
