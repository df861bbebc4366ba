import { error, redirect } from '@sveltejs/kit';
import type { UserView } from '@dropspot/protocol';

/** For load functions of pages that need an account: sign in first, then come back here. */
export function requireUser(user: UserView | null, url: URL): UserView {
  if (!user) redirect(303, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
  return user;
}

/** Admin pages: visitors sign in; signed-in users who are not admins get a 403 page. */
export function requireAdmin(user: UserView | null, url: URL): UserView {
  const signedIn = requireUser(user, url);
  if (signedIn.role !== 'ADMIN') error(403, 'This part of DropSpot is for admins. Your account can browse and claim drops.', { code: 'FORBIDDEN' });
  return signedIn;
}
