import type { ApiTokenView } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  return { tokens: (await loadApi<{ items: ApiTokenView[] }>(fetch, '/api/admin/api-tokens')).items };
};
