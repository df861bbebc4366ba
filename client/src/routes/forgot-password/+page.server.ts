import { api } from '#lib/api.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions } from './$types';

export const actions = {
  default: async ({ request, fetch }) => {
    const values = { email: text(await request.formData(), 'email') };
    try {
      const { message } = await api<{ message: string }>('/api/auth/forgot-password', { method: 'POST', body: values, fetch });
      return { sent: message, ...values };
    } catch (error) {
      return formFailure(error, values);
    }
  },
} satisfies Actions;
