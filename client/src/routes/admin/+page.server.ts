import type { DropView, EventPage, Page } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  const [drops, events] = await Promise.all([
    loadApi<Page<DropView>>(fetch, '/api/admin/drops?pageSize=100'),
    loadApi<EventPage>(fetch, '/api/admin/events?limit=1'),
  ]);
  return { drops: drops.items, total: drops.total, serverNow: drops.serverNow, newestEvent: events.newest, oldestEvent: events.oldest };
};
