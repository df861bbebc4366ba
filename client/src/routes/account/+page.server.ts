import type { UserView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { requireUser } from '#lib/auth.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals, url }) => ({ user: requireUser(locals.user, url) });

export const actions = {
  // Both forms are on one page: a refusal's values say which form it answers. Passwords are
  // never sent back to refill a form.
  password: async ({ request, fetch }) => {
    const form = await request.formData();
    try {
      await api('/api/auth/password', { method: 'POST', body: { currentPassword: text(form, 'currentPassword'), newPassword: text(form, 'newPassword') }, fetch });
    } catch (error) {
      return formFailure(error, { form: 'password' as const });
    }
    return { passwordChanged: true };
  },
  changeEmail: async ({ request, fetch }) => {
    const form = await request.formData();
    const values = { form: 'changeEmail' as const, email: text(form, 'email') };
    try {
      const { user } = await api<{ user: UserView }>('/api/me/email', { method: 'POST', body: { currentPassword: text(form, 'currentPassword'), email: values.email }, fetch });
      return { emailChanged: user.email };
    } catch (error) {
      return formFailure(error, values);
    }
  },
} satisfies Actions;
