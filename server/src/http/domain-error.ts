import { ERROR_STATUS, type ErrorCode, type ErrorIssue } from '@dropspot/protocol';

/**
 * The one error type the domain throws. Its `code` is stable and machine-readable; `extra`
 * carries fields a client may need (the first redemption time, a Retry-After, ...).
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
