import type { ActionResult, SubmitFunction } from '$app/forms';
import { tick } from 'svelte';
import { ApiError, REFRESHABLE, accessTokenStale, refreshSession } from './api.ts';
import type { FormFailure } from './server/forms.ts';

/** The API's problem a form action handed back, as the error type the pages already speak. */
export function formError(form: { problem?: FormFailure<unknown>['problem'] } | null | undefined): ApiError | null {
  return form?.problem ? new ApiError(form.problem, form.problem.retryAfter) : null;
}

export interface SubmitOptions {
  /** Told true while the form is on its way, false once its result is shown. */
  pending?: (busy: boolean) => void;
  /** Runs with the action's result before SvelteKit applies it. */
  before?: (result: ActionResult) => void | Promise<void>;
  /** Reset the form after a success (SvelteKit's default); false keeps what was typed. */
  reset?: boolean;
  /** Reload the page's data after a success (SvelteKit's default); false when the page is live already. */
  refreshAll?: boolean;
}

/**
 * `use:enhance` for DropSpot's forms. The forms work without JavaScript (the action runs on the
 * server and the page comes back); with it, the same action runs without a page load and:
 * - an access token about to run out is renewed first, and a refusal for an expired session is
 *   renewed and sent once more (the refresh cookie only travels to `/api/auth`, so the server-side
 *   action cannot renew it itself);
 * - focus goes to what needs fixing: the first field marked invalid or the form's message (or
 *   to a control marked `data-refocus`). A page that came back without JavaScript marks the
 *   same element `autofocus`; Svelte applies that attribute only when an element appears.
 */
export function submit(options: SubmitOptions = {}): SubmitFunction {
  let retried = false;
  return async ({ submitter }) => {
    options.pending?.(true);
    if (accessTokenStale()) await refreshSession().catch(() => null);
    return async ({ result, update, formElement }) => {
      const code = result.type === 'failure' ? (result.data as Partial<FormFailure<unknown>> | undefined)?.problem?.code : undefined;
      if (code && REFRESHABLE.has(code) && !retried && (await refreshSession().catch(() => null))) {
        retried = true;
        formElement.requestSubmit(submitter instanceof HTMLButtonElement && submitter.isConnected ? submitter : null);
        return;
      }
      retried = false;
      await options.before?.(result);
      await update({ reset: options.reset ?? true, refreshAll: result.type === 'success' ? (options.refreshAll ?? true) : false });
      options.pending?.(false);
      await tick();
      formElement.querySelector<HTMLElement>('[aria-invalid="true"], [data-form-error], [data-refocus]')?.focus();
    };
  };
}
