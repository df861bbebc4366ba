import type { z } from 'zod';
import { uuidSchema, type ErrorCode } from '@dropspot/protocol';
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
