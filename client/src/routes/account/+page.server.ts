import { requireUser } from '#lib/auth.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals, url }) => ({ user: requireUser(locals.user, url) });
