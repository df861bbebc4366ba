import { fail } from '@sveltejs/kit';
import { ApiError, api } from './api.ts';

/** What a form action hands back to its page when the API refused: the message, per-field messages, and when to retry. */
export interface ActionFailure {
  code: string;
  message: string;
  fields: Record<string, string>;
  retryAfter: number | null;
}

/**
 * Calls the API from a form action (server side, with the visitor's cookies) and turns a refusal
 * into SvelteKit's `fail` with the same status, so the page shows it and `use:enhance` keeps
 * the form where it is.
 */
export async function postFromAction<T>(fetch: typeof globalThis.fetch, path: string, body: unknown) {
  try {
    return { ok: true as const, data: await api<T>(path, { method: 'POST', body, fetch }) };
  } catch (error) {
    const known = error instanceof ApiError ? error : new ApiError({ status: 503, code: 'INTERNAL', detail: 'Something went wrong. Please try again.' });
    const failure: ActionFailure = {
      code: known.code,
      message: known.message,
      fields: Object.fromEntries(known.issues.map((issue) => [issue.path, issue.message])),
      retryAfter: known.retryAfter ?? null,
    };
    return { ok: false as const, failure: fail(known.status >= 400 ? known.status : 503, { failure }) };
  }
}

/** Text of a form field, or '' (a missing or non-text field is the API's to refuse). */
export function field(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}
