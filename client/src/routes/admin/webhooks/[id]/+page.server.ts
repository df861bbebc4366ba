import type { WebhookDeliveryPage, WebhookEndpointView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { loadApi } from '#lib/load.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent, params, url }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  const id = encodeURIComponent(params.id);
  const status = url.searchParams.get('status');
  const page = Number(url.searchParams.get('page') ?? 1) || 1;
  const query = new URLSearchParams({ page: String(page), pageSize: '50', ...(status ? { status } : {}) });
  const [endpoint, deliveries] = await Promise.all([
    loadApi<WebhookEndpointView>(fetch, `/api/admin/webhooks/${id}`),
    loadApi<WebhookDeliveryPage>(fetch, `/api/admin/webhooks/${id}/deliveries?${query}`),
  ]);
  return { endpoint, deliveries, status };
};

export const actions = {
  redeliver: async ({ request, fetch, params }) => {
    const values = { deliveryId: text(await request.formData(), 'deliveryId') };
    try {
      await api(`/api/admin/webhooks/${encodeURIComponent(params.id)}/deliveries/${encodeURIComponent(values.deliveryId)}/redeliver`, { method: 'POST', fetch });
    } catch (error) {
      return formFailure(error, values);
    }
    return { redelivered: 1, expired: 0 };
  },
  redeliverAll: async ({ fetch, params }) => {
    try {
      return await api<{ redelivered: number; expired: number }>(`/api/admin/webhooks/${encodeURIComponent(params.id)}/redeliver`, { method: 'POST', fetch });
    } catch (error) {
      return formFailure(error, {});
    }
  },
} satisfies Actions;
