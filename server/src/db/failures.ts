import { ConnectionException } from '@mikro-orm/core';

/**
 * The SQLSTATE (or Node socket error code) behind an error: MikroORM copies the driver's `code`
 * onto its exceptions; a wrapped error is followed through its `cause`.
 */
function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * PostgreSQL aborted this transaction to let a concurrent one through: 40001 (serialization
 * failure) or 40P01 (deadlock detected). Nothing of it was committed, so running the whole unit of
 * work again is safe. `RetryTransaction` is the same signal raised by our own code.
 */
export function isTransientConflict(error: unknown): boolean {
  if (error instanceof RetryTransaction) return true;
  const code = errorCode(error);
  return code === '40001' || code === '40P01';
}

/**
 * A foreign key or unique constraint refused the statement (23503, 23505). By SQLSTATE, so a
 * statement written with Kysely (whose errors are the driver's own) is judged like one MikroORM
 * ran (whose errors it converts into its exception classes, keeping the code).
 */
export const isForeignKeyViolation = (error: unknown): boolean => errorCode(error) === '23503';
export const isUniqueViolation = (error: unknown): boolean => errorCode(error) === '23505';

/**
 * A lock was not granted within the statement's `lock_timeout` (55P03, lock_not_available): the
 * row is held by a long transaction. By SQLSTATE: MikroORM's LockWaitTimeoutException is not
 * raised for PostgreSQL's code, so a timed-out lock reached the client as a 500.
 */
export const isLockTimeout = (error: unknown): boolean => errorCode(error) === '55P03';

/** A unit of work found it must start again (what it locked no longer covers what it must change). */
export class RetryTransaction extends Error {
  override name = 'RetryTransaction';
}

/** Socket-level failures to reach the database server. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The database cannot serve right now, whatever the query: unreachable, shutting down (57P01
 * admin shutdown, 57P02 crash shutdown), starting up or recovering (57P03 cannot connect now),
 * or any connection exception (SQLSTATE class 08). The answer is 503 with Retry-After, never 500.
 * The pg client reports a connection lost mid-query without a code, by its message.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof ConnectionException) return true;
  const code = errorCode(error);
  if (code !== undefined) {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || UNREACHABLE.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  return error instanceof Error && /Connection terminated|connection (error|timeout|refused)|timeout exceeded when trying to connect|not queryable/i.test(error.message);
}
