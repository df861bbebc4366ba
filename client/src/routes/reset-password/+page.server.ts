import { redirect } from '@sveltejs/kit';
import { field, postFromAction } from '#lib/form-action.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ url }) => ({ token: url.searchParams.get('token') ?? '' });

export const actions: Actions = {
  default: async ({ request, fetch }) => {
    const form = await request.formData();
    const result = await postFromAction(fetch, '/api/auth/reset-password', { token: field(form, 'token'), newPassword: field(form, 'newPassword') });
    if (!result.ok) return result.failure;
    // Every session ended, this browser's too: log in with the new password.
    redirect(303, '/login?reset=1');
  },
};
