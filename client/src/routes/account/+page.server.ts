import type { UserView } from '@dropspot/protocol';
import { requireUser } from '#lib/auth.ts';
import { field, postFromAction } from '#lib/form-action.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals, url }) => ({ user: requireUser(locals.user, url) });

export const actions: Actions = {
  changeEmail: async ({ request, fetch }) => {
    const form = await request.formData();
    const result = await postFromAction<{ user: UserView }>(fetch, '/api/me/email', { currentPassword: field(form, 'currentPassword'), email: field(form, 'email') });
    if (!result.ok) return result.failure;
    return { emailChanged: result.data.user.email };
  },
};
