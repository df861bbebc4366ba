import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { LockWaitTimeoutException } from '@mikro-orm/core';
import type { Problem } from '@dropspot/protocol';
import { z } from 'zod';
import { isDatabaseUnavailable, isTransientConflict } from '../db/failures.ts';
import { DomainError } from './domain-error.ts';

const TITLES: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function zodToDomainError(error: z.ZodError, what = 'request body'): DomainError {
  return new DomainError('VALIDATION_FAILED', `The ${what} is not valid.`, {
    issues: error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message, code: issue.code })),
  });
}

export function sendProblem(res: Response, error: DomainError): void {
  const problem: Problem = {
    type: `/docs/errors#${error.code}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    code: error.code,
    detail: error.message,
    instance: res.req.originalUrl,
    requestId: String(res.req.id ?? ''),
    ...(error.issues ? { issues: error.issues } : {}),
    ...error.extra,
  };
  if (typeof error.extra.retryAfter === 'number') res.setHeader('Retry-After', String(error.extra.retryAfter));
  res.status(error.status).type('application/problem+json').send(JSON.stringify(problem));
}

/**
 * Errors from Express itself (body parser, router) carry an HTTP `status` and sometimes a `type`:
 * map them to stable codes. Any other 4xx they report (a malformed %-escape in a path, a body
 * whose Content-Encoding does not match its bytes) is the client's input, never a 500.
 */
function fromExpress(error: { type?: string; status?: number; statusCode?: number }): DomainError | undefined {
  const status = error.status ?? error.statusCode;
  switch (error.type) {
    case 'entity.parse.failed':
      return new DomainError('INVALID_JSON', 'The request body is not valid JSON.');
    case 'entity.too.large':
      return new DomainError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported.');
    default:
      if (status === 413) return new DomainError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
      if (status === 415) return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported.');
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return new DomainError('VALIDATION_FAILED', 'The request could not be read.');
      }
      return undefined;
  }
}

export function toDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof z.ZodError) return zodToDomainError(error);
  if (error instanceof LockWaitTimeoutException) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The drop is busy; try again in a moment.', { extra: { retryAfter: 1 }, cause: error });
  }
  // Retried inside the server first (db/transaction.ts); what still conflicts after that is load, not a bug.
  if (isTransientConflict(error)) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The database is busy with conflicting changes; try again in a moment.', { extra: { retryAfter: 1 }, cause: error });
  }
  if (isDatabaseUnavailable(error)) {
    return new DomainError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly.', { extra: { retryAfter: 2 }, cause: error });
  }
  if (typeof error === 'object' && error !== null && ('type' in error || 'status' in error || 'statusCode' in error)) {
    return fromExpress(error as { type?: string; status?: number; statusCode?: number });
  }
  return undefined;
}

export const problemHandler: ErrorRequestHandler = (error: unknown, req, res, _next) => {
  const known = toDomainError(error);
  if (known) {
    if (known.status >= 500) req.log.error({ err: error }, known.message);
    sendProblem(res, known);
    return;
  }
  req.log.error({ err: error }, 'unhandled error');
  sendProblem(res, new DomainError('INTERNAL', 'Something went wrong on our side. It has been logged.'));
};

export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, new DomainError('NOT_FOUND', `No route for ${req.method} ${req.baseUrl}${req.path}.`));
};
