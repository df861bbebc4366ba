import type { SignupRequirements } from '@dropspot/protocol';
import { authAction } from '#lib/server/auth.ts';
import { loadApi } from '#lib/load.ts';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch }) => loadApi<SignupRequirements>(fetch, '/api/auth/signup');

export const actions = { default: authAction('signup') } satisfies Actions;
