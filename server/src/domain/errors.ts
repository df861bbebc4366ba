import { LockWaitTimeoutException } from '@mikro-orm/core';
import { ERROR_STATUS, type ErrorCode, type ErrorIssue } from '@dropspot/protocol';
import { z } from 'zod';
import { isDatabaseUnavailable, isLockTimeout, isTransientConflict } from '../db/failures.ts';

/**
 * The one error type the domain throws. Its `code` is stable and machine-readable; `extra`
 * carries fields a client may need (the first redemption time, a Retry-After, ...). The edges
 * turn it into problem+json (`http/problem.ts`) or a socket ack (`realtime/socket-handler.ts`).
 */
export class DomainError extends Error {
  override name = 'DomainError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly extra: Record<string, unknown>;
  readonly issues: ErrorIssue[] | undefined;

  constructor(code: ErrorCode, message: string, options: { extra?: Record<string, unknown>; issues?: ErrorIssue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.extra = options.extra ?? {};
    this.issues = options.issues;
  }
}

export function zodToDomainError(error: z.ZodError, what = 'request body'): DomainError {
  return new DomainError('VALIDATION_FAILED', `The ${what} is not valid.`, {
    issues: error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message, code: issue.code })),
  });
}

/** Parses input with a protocol schema; what fails is VALIDATION_FAILED with the issues, on every transport. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw zodToDomainError(result.error, what);
  return result.data;
}

/** The domain's failures with a stable code: its own errors, invalid input, and a busy or absent database. */
export function toDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof z.ZodError) return zodToDomainError(error);
  if (error instanceof LockWaitTimeoutException || isLockTimeout(error)) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The drop is busy; try again in a moment.', { extra: { retryAfter: 1 }, cause: error });
  }
  // Retried inside the server first (db/transaction.ts); what still conflicts after that is load, not a bug.
  if (isTransientConflict(error)) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The database is busy with conflicting changes; try again in a moment.', { extra: { retryAfter: 1 }, cause: error });
  }
  if (isDatabaseUnavailable(error)) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly.', { extra: { retryAfter: 2 }, cause: error });
  }
  return undefined;
}
