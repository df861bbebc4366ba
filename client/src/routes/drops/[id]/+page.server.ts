import { error } from '@sveltejs/kit';
import { uuidSchema, type DropDetailView, type PriorityFormulaView } from '@dropspot/protocol';
import { loadApi } from '#lib/load.ts';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ fetch, params }) => {
  if (!uuidSchema.safeParse(params.id).success) error(404, 'There is no drop at this address.', { code: 'DROP_NOT_FOUND' });
  const drop = await loadApi<DropDetailView>(fetch, `/api/drops/${params.id}`);
  // A PRIORITY drop keeps the formula it was published with; the live one applies to the rest.
  const formula = drop.priorityFormula ?? (await loadApi<PriorityFormulaView>(fetch, '/api/priority'));
  return { drop, formula };
};
