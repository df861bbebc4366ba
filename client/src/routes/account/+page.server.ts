import { NOTIFICATION_CHANNELS, NOTIFICATION_KINDS, type NotificationPreferences, type NotificationSettingsView, type UserView } from '@dropspot/protocol';
import { api } from '#lib/api.ts';
import { requireUser } from '#lib/auth.ts';
import { loadApi } from '#lib/load.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url, fetch }) => {
  const user = requireUser(locals.user, url);
  return { user, notifications: await loadApi<NotificationSettingsView>(fetch, '/api/me/notifications') };
};

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
  // The whole grid is one form: a box left unticked is a switch turned off.
  notifications: async ({ request, fetch }) => {
    const form = await request.formData();
    const preferences = Object.fromEntries(
      NOTIFICATION_KINDS.map((kind) => [kind, Object.fromEntries(NOTIFICATION_CHANNELS.map((channel) => [channel, form.get(`${kind}.${channel}`) === 'on']))]),
    ) as NotificationPreferences;
    try {
      await api<NotificationSettingsView>('/api/me/notifications', { method: 'PATCH', body: { preferences }, fetch });
    } catch (error) {
      return formFailure(error, { form: 'notifications' as const });
    }
    return { notificationsSaved: true };
  },
} satisfies Actions;
