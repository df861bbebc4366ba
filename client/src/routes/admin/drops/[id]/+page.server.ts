import { error } from '@sveltejs/kit';
import { uuidSchema, type AiStatusView, type AuditEntryView, type DropDetailView, type DropView, type EventPage, type Page } from '@dropspot/protocol';
import { CONSOLE_AUDIT_ROWS } from '#lib/drops.ts';
import { loadApi } from '#lib/load.ts';
import { submitDropForm } from '#lib/server/drop-form.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, params, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  if (!uuidSchema.safeParse(params.id).success) error(404, 'There is no drop at this address.', { code: 'DROP_NOT_FOUND' });
  const [drop, events, audit, ai] = await Promise.all([
    loadApi<DropDetailView>(fetch, `/api/admin/drops/${params.id}`),
    loadApi<EventPage>(fetch, '/api/admin/events?limit=1'),
    loadApi<Page<AuditEntryView>>(fetch, `/api/admin/audit?dropId=${params.id}&pageSize=${CONSOLE_AUDIT_ROWS}`),
    loadApi<AiStatusView>(fetch, '/api/admin/ai'),
  ]);
  return { drop, newestEvent: events.newest, oldestEvent: events.oldest, audit: audit.items, ai };
};

export const actions = {
  save: async (event) => {
    const result = await submitDropForm<DropView>(event, 'PATCH', `/api/admin/drops/${event.params.id}`);
    if (!result.ok) return result.failure;
    return { saved: true as const, values: result.values };
  },
} satisfies Actions;
