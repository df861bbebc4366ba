import { error } from '@sveltejs/kit';
import { ApiError, api } from '#lib/api.ts';
import type { PageServerLoad } from './$types';

export interface MailboxMessage {
  id: string;
  to: string;
  subject: string;
  text: string;
  sentAt: string;
}

export const load: PageServerLoad = async ({ fetch, parent }) => {
  await parent(); // the layout's admin check first
  try {
    return { messages: (await api<{ messages: MailboxMessage[] }>('/api/admin/mailbox', { fetch })).messages, smtp: false };
  } catch (failure) {
    // Mail goes out over SMTP: there is no mailbox to show, which the page says.
    if (failure instanceof ApiError && failure.code === 'NOT_FOUND') return { messages: [], smtp: true };
    if (failure instanceof ApiError) error(failure.status || 503, failure.message, { code: failure.code });
    throw failure;
  }
};
