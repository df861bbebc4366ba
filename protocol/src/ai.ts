import { z } from 'zod';
import { ALLOCATION_MODES, text } from './schemas.ts';

/**
 * "Suggest a description" (admins, drop form): the drop as typed so far. Only these fields reach
 * the prompt, each bounded; the instructions around them are the server's own.
 */
export const suggestDescriptionBodySchema = z.strictObject({
  title: text(200).pipe(z.string().min(1, 'required')),
  /** The admin's draft, if any: the suggestion may build on it. */
  description: text(5000).optional(),
  allocationMode: z.enum(ALLOCATION_MODES).optional(),
  totalSlots: z.number().int().min(1).max(1_000_000).optional(),
});
export type SuggestDescriptionBody = z.infer<typeof suggestDescriptionBodySchema>;

/** `GET /api/admin/ai`: whether suggestions can be asked for, and if not, why, in one line. */
export interface AiStatusView {
  configured: boolean;
  model: string | null;
  reason: string | null;
}

/**
 * `POST /api/admin/ai/description` answers `text/event-stream` once the provider has answered:
 * `delta` events carry the text in order, then one `done`, or one `error` if the provider fails
 * part-way (a failure before any text is a problem+json answer instead, with the same codes).
 */
export const SUGGESTION_EVENTS = { delta: 'delta', done: 'done', error: 'error' } as const;
export interface SuggestionDelta {
  text: string;
}
export interface SuggestionError {
  code: 'AI_UNAVAILABLE' | 'AI_TIMEOUT';
  message: string;
}
