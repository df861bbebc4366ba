import { api } from '#lib/api.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

// The link only opens this page: confirming takes a press of the button, so a mail scanner that
// fetches links cannot spend it.
export const load: PageServerLoad = ({ url, locals }) => ({ token: url.searchParams.get('token') ?? '', user: locals.user });

export const actions = {
  verify: async ({ request, fetch }) => {
    try {
      await api('/api/auth/verify-email', { method: 'POST', body: { token: text(await request.formData(), 'token') }, fetch });
    } catch (error) {
      return formFailure(error, {});
    }
    return { verified: true };
  },
  resend: async ({ fetch }) => {
    try {
      return { resent: (await api<{ sent: boolean }>('/api/auth/verify-email/resend', { method: 'POST', body: {}, fetch })).sent };
    } catch (error) {
      return formFailure(error, {});
    }
  },
} satisfies Actions;
