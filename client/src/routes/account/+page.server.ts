import type { UserView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { requireUser } from '#lib/auth.ts';
import { field, postFromAction } from '#lib/form-action.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals, url }) => ({ user: requireUser(locals.user, url) });

export const actions = {
  /** Passwords are never sent back to refill the form. */
  password: async ({ request, fetch }) => {
    const form = await request.formData();
    try {
      await api('/api/auth/password', { method: 'POST', body: { currentPassword: text(form, 'currentPassword'), newPassword: text(form, 'newPassword') }, fetch });
    } catch (error) {
      return formFailure(error, {});
    }
    return { passwordChanged: true };
  },
  changeEmail: async ({ request, fetch }) => {
    const form = await request.formData();
    const result = await postFromAction<{ user: UserView }>(fetch, '/api/me/email', { currentPassword: field(form, 'currentPassword'), email: field(form, 'email') });
    if (!result.ok) return result.failure;
    return { emailChanged: result.data.user.email };
  },
} satisfies Actions;
