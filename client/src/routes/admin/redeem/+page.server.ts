import { redeemCodeSchema, type ClaimView } from '@dropspot/protocol';
import { fail } from '@sveltejs/kit';
import { api } from '#lib/api.ts';
import { formFailure, text } from '#lib/server/forms.ts';
import type { Actions } from './$types';

export const actions = {
  default: async ({ request, fetch }) => {
    const code = text(await request.formData(), 'code');
    // The same normalisation as the server: lower case, spaces and missing dashes are fine.
    const parsed = redeemCodeSchema.safeParse(code);
    if (!parsed.success) return fail(400, { invalid: true as const, values: { code } });
    try {
      return { redeemed: (await api<{ claim: ClaimView }>(`/api/admin/claims/${encodeURIComponent(parsed.data)}/redeem`, { method: 'POST', fetch })).claim };
    } catch (error) {
      return formFailure(error, { code });
    }
  },
} satisfies Actions;
