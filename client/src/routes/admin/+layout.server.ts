import { requireAdmin } from '#lib/auth.ts';
import type { LayoutServerLoad } from './$types';

export const load: LayoutServerLoad = ({ locals, url }) => {
  requireAdmin(locals.user, url);
};
