import { redirect, type RequestEvent } from '@sveltejs/kit';
import { api } from '../api.ts';
import { safeNext } from '../next.ts';
import { formFailure, text } from './forms.ts';

/**
 * The log-in and sign-up form actions: the API checks the form and sets the session cookies
 * (hooks.server.ts passes them on to the browser); then on to `next`, on this site only.
 * The password is never sent back to refill the form.
 */
export function authAction(mode: 'login' | 'signup') {
  return async ({ request, fetch, url }: RequestEvent) => {
    const form = await request.formData();
    const values = { email: text(form, 'email') };
    try {
      // The proof-of-work widget's hidden field, when the signup form has one.
      const altcha = mode === 'signup' ? text(form, 'altcha') : '';
      await api(`/api/auth/${mode}`, { method: 'POST', body: { email: values.email, password: text(form, 'password'), ...(altcha ? { altcha } : {}) }, fetch });
    } catch (error) {
      return formFailure(error, values);
    }
    redirect(303, safeNext(url));
  };
}
