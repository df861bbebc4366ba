import { redirect } from '@sveltejs/kit';
import { api } from '#lib/api.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ url }) => ({ token: url.searchParams.get('token') ?? '' });

export const actions = {
  /** Passwords are never sent back to refill the form; the token is the page's own. */
  default: async ({ request, fetch }) => {
    const form = await request.formData();
    try {
      await api('/api/auth/reset-password', { method: 'POST', body: { token: text(form, 'token'), newPassword: text(form, 'newPassword') }, fetch });
    } catch (error) {
      return formFailure(error, {});
    }
    // Every session ended, this browser's too: log in with the new password.
    redirect(303, '/login?reset=1');
  },
} satisfies Actions;
