import { fail, type ActionFailure } from '@sveltejs/kit';
import type { Problem } from '@dropspot/protocol';
import { ApiError } from '../api.ts';

/** What a refused form action hands back to its page: the API's problem, and what to refill. */
export interface FormFailure<Values> {
  problem: Pick<Problem, 'status' | 'code' | 'detail' | 'issues'> & { retryAfter?: number; [extension: string]: unknown };
  values: Values;
}

/**
 * A form action's answer to a failed API call: the same status and problem+json the API sent,
 * so the page shows each field's message next to its field. Anything else is a bug and goes to
 * SvelteKit's error page.
 */
export function formFailure<Values>(error: unknown, values: Values): ActionFailure<FormFailure<Values>> {
  if (!(error instanceof ApiError)) throw error;
  const problem = { ...error.extra, status: error.status || 503, code: error.code === 'NETWORK' ? 'SERVICE_UNAVAILABLE' : error.code, detail: error.message, issues: error.issues, retryAfter: error.retryAfter };
  return fail(problem.status, { problem, values });
}

/** A text field of a submitted form ('' when absent). */
export function text(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}
