import type { DropView, Page } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch }) => {
  const page = await loadApi<Page<DropView>>(fetch, '/api/drops?pageSize=100');
  return { drops: page.items, serverNow: page.serverNow };
};
