import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Problem } from '@dropspot/protocol';
import { DomainError, toDomainError } from '../domain/errors.ts';

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
  424: 'Failed Dependency',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

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

/** A domain failure, or one Express reported about the request itself. */
export function toProblemError(error: unknown): DomainError | undefined {
  const known = toDomainError(error);
  if (known) return known;
  if (typeof error === 'object' && error !== null && ('type' in error || 'status' in error || 'statusCode' in error)) {
    return fromExpress(error as { type?: string; status?: number; statusCode?: number });
  }
  return undefined;
}

export const problemHandler: ErrorRequestHandler = (error: unknown, req, res, _next) => {
  const known = toProblemError(error);
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
