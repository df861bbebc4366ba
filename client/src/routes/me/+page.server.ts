import type { ClaimView, MyWaitlistEntry } from '@dropspot/protocol';
import { requireUser } from '#lib/auth.ts';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, locals, url, depends }) => {
  requireUser(locals.user, url);
  depends('app:my-waitlists');
  const [claims, waitlists] = await Promise.all([
    loadApi<{ items: ClaimView[] }>(fetch, '/api/me/claims'),
    loadApi<{ items: MyWaitlistEntry[] }>(fetch, '/api/me/waitlists'),
  ]);
  return { claims: claims.items, waitlists: waitlists.items };
};
