import type { ApiTokenView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { loadApi } from '#lib/load.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  return { tokens: (await loadApi<{ items: ApiTokenView[] }>(fetch, '/api/admin/api-tokens')).items };
};

export const actions = {
  /** The new token is shown once, on the page this action answers; it is never stored here. */
  create: async ({ request, fetch }) => {
    const values = { name: text(await request.formData(), 'name') };
    try {
      return { created: await api<ApiTokenView & { token: string }>('/api/admin/api-tokens', { method: 'POST', body: values, fetch }) };
    } catch (error) {
      return formFailure(error, values);
    }
  },
  revoke: async ({ request, fetch }) => {
    const form = await request.formData();
    const values = { id: text(form, 'id'), name: text(form, 'name') };
    try {
      await api(`/api/admin/api-tokens/${encodeURIComponent(values.id)}`, { method: 'DELETE', fetch });
    } catch (error) {
      return formFailure(error, values);
    }
    return { revoked: values.name };
  },
} satisfies Actions;
