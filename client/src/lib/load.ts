import { error } from '@sveltejs/kit';
import { ApiError, api } from './api.ts';

/** An API read for a load function: a failure becomes SvelteKit's error page with the same status. */
export async function loadApi<T>(fetch: typeof globalThis.fetch, path: string): Promise<T> {
  try {
    return await api<T>(path, { fetch });
  } catch (failure) {
    if (failure instanceof ApiError) error(failure.status || 503, failure.message, { code: failure.code });
    throw failure;
  }
}
