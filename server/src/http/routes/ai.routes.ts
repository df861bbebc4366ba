import type { Response } from 'express';
import { z } from 'zod';
import { SUGGESTION_EVENTS, suggestDescriptionBodySchema, type SuggestionError } from '@dropspot/protocol';
import { aiStatusViewSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import { DomainError } from '../../domain/errors.ts';
import type { DescriptionAssistant } from '../../modules/ai/description.service.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';

function send(res: Response, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** OpenAPI 3.1 has no schema for the events of a stream: the answer is text, described in words. */
const suggestionStream = {
  contentType: 'text/event-stream',
  schema: z
    .string()
    .describe(
      'Server-sent events, in order: `event: delta` with `data: {"text": "…"}` (the suggestion\'s next words), then one `event: done` with `data: {}`; or, if the provider fails part-way, one `event: error` with `data: {"code": "AI_UNAVAILABLE" | "AI_TIMEOUT", "message": "…"}`.',
    ),
  description: 'The suggestion, streamed as server-sent events once the provider has answered.',
};

/**
 * Under /api/admin, admins only: whether the description helper is on, and a suggestion streamed
 * as server-sent events (`delta` … then `done`, or `error`). A failure before any text is a
 * problem+json answer (409 AI_NOT_CONFIGURED, 424 AI_UNAVAILABLE / AI_TIMEOUT); never a 5xx.
 */
export function aiRoutes(deps: { ai: DescriptionAssistant; config: Readonly<Config> }): ApiRouter {
  const api = apiRouter();
  const tag = 'Description helper';
  const statusDoc = { tag, access: 'admin', summary: 'Whether "Suggest a description" is on, and if not, why', responses: { 200: aiStatusViewSchema } } as const;
  api.get('/ai', statusDoc, (_req, res) => {
    res.json(deps.ai.status());
  });
  const suggestDoc = {
    tag,
    access: 'admin',
    summary: 'Suggest a description for a drop (streamed)',
    description:
      'The drop as typed so far; the answer is `text/event-stream`. Closing the connection stops the provider too. A failure before any text is a problem answer instead.',
    body: suggestDescriptionBodySchema,
    responses: { 200: suggestionStream },
    errors: ['AI_NOT_CONFIGURED', 'AI_UNAVAILABLE', 'AI_TIMEOUT'],
    limited: true,
  } as const;
  api.post('/ai/description', suggestDoc, limit({ name: 'ai-description', perMinute: deps.config.ai.perMinute, by: 'user' }), async (req, res) => {
    const input = parseBody(suggestDescriptionBodySchema, req.body);
    // The admin closing the page (or pressing Stop) ends the provider's request too.
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    const text = await deps.ai.suggest(input, gone.signal);
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    try {
      for await (const delta of text) send(res, SUGGESTION_EVENTS.delta, { text: delta });
      if (!gone.signal.aborted) send(res, SUGGESTION_EVENTS.done, {});
    } catch (error) {
      const failure: SuggestionError =
        error instanceof DomainError && (error.code === 'AI_TIMEOUT' || error.code === 'AI_UNAVAILABLE')
          ? { code: error.code, message: error.message }
          : { code: 'AI_UNAVAILABLE', message: 'The suggestion stopped part-way. Try again, or write the description yourself.' };
      send(res, SUGGESTION_EVENTS.error, failure);
    }
    res.end();
  });
  return api;
}
