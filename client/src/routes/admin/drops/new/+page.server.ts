import { redirect } from '@sveltejs/kit';
import type { DropView } from '@dropspot/protocol';
import { submitDropForm } from '#lib/server/drop-form.ts';
import type { Actions } from './$types';

export const actions = {
  default: async (event) => {
    const result = await submitDropForm<DropView>(event, 'POST', '/api/admin/drops');
    if (!result.ok) return result.failure;
    redirect(303, `/admin/drops/${result.drop.id}`);
  },
} satisfies Actions;
