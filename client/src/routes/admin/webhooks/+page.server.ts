import { DOMAIN_EVENT_TYPES, type WebhookEndpointView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { loadApi } from '#lib/load.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first: a user's page load never reaches the admin API
  return { endpoints: (await loadApi<{ items: WebhookEndpointView[] }>(fetch, '/api/admin/webhooks')).items };
};

export const actions = {
  /** The new endpoint's secret is shown once, on the page this action answers; it is never stored here. */
  create: async ({ request, fetch }) => {
    const form = await request.formData();
    const values = {
      url: text(form, 'url'),
      description: text(form, 'description'),
      eventTypes: form.getAll('eventTypes').filter((value): value is string => typeof value === 'string' && (DOMAIN_EVENT_TYPES as readonly string[]).includes(value)),
    };
    try {
      return { created: await api<WebhookEndpointView & { secret: string }>('/api/admin/webhooks', { method: 'POST', body: values, fetch }) };
    } catch (error) {
      return formFailure(error, values);
    }
  },
  toggle: async ({ request, fetch }) => {
    const form = await request.formData();
    const values = { id: text(form, 'id'), url: text(form, 'url'), enabled: text(form, 'enabled') === 'true' };
    try {
      await api(`/api/admin/webhooks/${encodeURIComponent(values.id)}`, { method: 'PATCH', body: { enabled: values.enabled }, fetch });
    } catch (error) {
      return formFailure(error, values);
    }
    return { toggled: { url: values.url, enabled: values.enabled } };
  },
  remove: async ({ request, fetch }) => {
    const form = await request.formData();
    const values = { id: text(form, 'id'), url: text(form, 'url') };
    try {
      await api(`/api/admin/webhooks/${encodeURIComponent(values.id)}`, { method: 'DELETE', fetch });
    } catch (error) {
      return formFailure(error, values);
    }
    return { removed: values.url };
  },
} satisfies Actions;
