import { redirect } from '@sveltejs/kit';
import type { AiStatusView, DropView } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import { submitDropForm } from '#lib/server/drop-form.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first
  return { ai: await loadApi<AiStatusView>(fetch, '/api/admin/ai') };
};

export const actions = {
  default: async (event) => {
    const result = await submitDropForm<DropView>(event, 'POST', '/api/admin/drops');
    if (!result.ok) return result.failure;
    redirect(303, `/admin/drops/${result.drop.id}`);
  },
} satisfies Actions;
