import type { RequestHandler } from 'express';
import type { z } from 'zod';
import { uuidSchema, type ErrorCode, type ErrorIssue } from '@dropspot/protocol';
import { DomainError, zodToDomainError } from '../domain/errors.ts';

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw zodToDomainError(result.error);
  return result.data;
}

export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const result = schema.safeParse(query);
  if (!result.success) throw zodToDomainError(result.error, 'query string');
  return result.data;
}

/** A path id that is not even a UUID names nothing, so it is reported as not found. */
export function parseId(raw: unknown, notFound: ErrorCode, what: string): string {
  const result = uuidSchema.safeParse(raw);
  if (!result.success) throw new DomainError(notFound, `No ${what} with this id.`);
  return result.data;
}

/**
 * Refuses ill-formed Unicode (a lone UTF-16 surrogate) anywhere in decoded input: JSON's `\u`
 * escapes can carry one, PostgreSQL cannot store it (a 500 in jsonb) and text hashed or compared
 * with it silently becomes U+FFFD. It walks the whole input, values and keys, before any schema or
 * handler sees it, and each transport calls it once for everything it decodes (the /api JSON body
 * and query string, every socket event's payload), so no field, route or event can forget it,
 * including fields no schema reads. A path segment or query string cannot carry one: percent-decoding
 * refuses bytes that are not UTF-8 (400) or replaces them.
 */
export function refuseIllFormed(input: unknown, what: string): void {
  const issues: ErrorIssue[] = [];
  // Iterative: a deeply nested body within the size limit must not exhaust the stack.
  const pending: { value: unknown; path: (string | number)[] }[] = [{ value: input, path: [] }];
  while (pending.length > 0 && issues.length < 20) {
    const { value, path } = pending.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) issues.push({ path: path.join('.'), message: 'must be well-formed Unicode (it has a lone surrogate)', code: 'invalid' });
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push({ value: item, path: [...path, i] }));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (key.isWellFormed()) pending.push({ value: item, path: [...path, key] });
        else issues.push({ path: path.join('.'), message: 'has a key that is not well-formed Unicode (a lone surrogate)', code: 'invalid' });
      }
    }
  }
  if (issues.length > 0) throw new DomainError('VALIDATION_FAILED', `The ${what} is not valid.`, { issues });
}

/** The /api edge: the parsed JSON body and the query string, before any route. */
export const wellFormedInput: RequestHandler = (req, _res, next) => {
  refuseIllFormed(req.body, 'request body');
  refuseIllFormed(req.query, 'query string');
  next();
};
