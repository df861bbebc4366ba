import { field, postFromAction } from '#lib/form-action.ts';
import type { Actions, PageServerLoad } from './$types';

// The link only opens this page: confirming takes a press of the button, so a mail scanner that
// fetches links cannot spend it.
export const load: PageServerLoad = ({ url, locals }) => ({ token: url.searchParams.get('token') ?? '', user: locals.user });

export const actions: Actions = {
  verify: async ({ request, fetch }) => {
    const result = await postFromAction(fetch, '/api/auth/verify-email', { token: field(await request.formData(), 'token') });
    if (!result.ok) return result.failure;
    return { verified: true };
  },
  resend: async ({ fetch }) => {
    const result = await postFromAction<{ sent: boolean }>(fetch, '/api/auth/verify-email/resend', {});
    if (!result.ok) return result.failure;
    return { resent: result.data.sent };
  },
};
