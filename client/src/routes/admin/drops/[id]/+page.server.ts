import { error } from '@sveltejs/kit';
import { uuidSchema, type AuditEntryView, type DropDetailView, type EventPage, type Page } from '@dropspot/protocol';
import { CONSOLE_AUDIT_ROWS } from '#lib/drops.ts';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, params, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  if (!uuidSchema.safeParse(params.id).success) error(404, 'There is no drop at this address.', { code: 'DROP_NOT_FOUND' });
  const [drop, events, audit] = await Promise.all([
    loadApi<DropDetailView>(fetch, `/api/admin/drops/${params.id}`),
    loadApi<EventPage>(fetch, '/api/admin/events?limit=1'),
    loadApi<Page<AuditEntryView>>(fetch, `/api/admin/audit?dropId=${params.id}&pageSize=${CONSOLE_AUDIT_ROWS}`),
  ]);
  return { drop, newestEvent: events.newest, audit: audit.items };
};
