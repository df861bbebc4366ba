import { error } from '@sveltejs/kit';
import { uuidSchema, type RankingView } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageLoad } from './$types';

/** Entries per page here: a screenful to read, far below the API's largest page. */
const PAGE_SIZE = 100;

/**
 * Loaded in the browser, not on the server: the ranking is rate limited per IP, and a server-side
 * load would reach the API from this server's own address for every visitor at once.
 */
export const ssr = false;

export const load: PageLoad = async ({ fetch, params, url }) => {
  if (!uuidSchema.safeParse(params.id).success) error(404, 'There is no drop at this address.', { code: 'DROP_NOT_FOUND' });
  // The API validates the offset (a bad one is its 400 on the error page).
  const offset = url.searchParams.get('offset') ?? '0';
  const ranking = await loadApi<RankingView>(fetch, `/api/drops/${params.id}/ranking?offset=${encodeURIComponent(offset)}&limit=${PAGE_SIZE}`);
  return { ranking };
};
