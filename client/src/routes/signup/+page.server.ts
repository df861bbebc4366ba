import { authAction } from '#lib/server/auth.ts';
import type { Actions } from './$types';

export const actions = { default: authAction('signup') } satisfies Actions;
