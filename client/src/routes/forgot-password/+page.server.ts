import { field, postFromAction } from '#lib/form-action.ts';
import type { Actions } from './$types';

export const actions: Actions = {
  default: async ({ request, fetch }) => {
    const email = field(await request.formData(), 'email');
    const result = await postFromAction<{ message: string }>(fetch, '/api/auth/forgot-password', { email });
    if (!result.ok) return result.failure;
    return { sent: result.data.message, email };
  },
};
