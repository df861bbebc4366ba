import { AUDIT_ACTIONS, uuidSchema, type AuditAction, type AuditEntryView, type DropView, type Page } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent, url }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  // Only well-formed filters go to the API; anything else is simply not applied.
  const dropId = uuidSchema.safeParse(url.searchParams.get('dropId')).data;
  const rawAction = url.searchParams.get('action');
  const action = AUDIT_ACTIONS.includes(rawAction as AuditAction) ? (rawAction as AuditAction) : undefined;
  const page = Math.max(1, Math.min(100_000, Number.parseInt(url.searchParams.get('page') ?? '1', 10) || 1));
  const query = new URLSearchParams({ page: String(page), pageSize: '50' });
  if (dropId) query.set('dropId', dropId);
  if (action) query.set('action', action);
  const [entries, drops] = await Promise.all([
    loadApi<Page<AuditEntryView>>(fetch, `/api/admin/audit?${query}`),
    loadApi<Page<DropView>>(fetch, '/api/admin/drops?pageSize=100'),
  ]);
  query.delete('page');
  query.delete('pageSize');
  return { entries, drops: drops.items, filter: { dropId, action }, csv: `/api/admin/audit.csv?${query}` };
};
