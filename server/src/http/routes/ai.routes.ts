import { Router, type Response } from 'express';
import { SUGGESTION_EVENTS, suggestDescriptionBodySchema, type SuggestionError } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { DomainError } from '../../domain/errors.ts';
import type { DescriptionAssistant } from '../../modules/ai/description.service.ts';
import { requireAdmin } from '../auth-middleware.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';

function send(res: Response, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * Under /api/admin, admins only: whether the description helper is on, and a suggestion streamed
 * as server-sent events (`delta` … then `done`, or `error`). A failure before any text is a
 * problem+json answer (409 AI_NOT_CONFIGURED, 424 AI_UNAVAILABLE / AI_TIMEOUT); never a 5xx.
 */
export function aiRoutes(deps: { ai: DescriptionAssistant; config: Readonly<Config> }): Router {
  const router = Router();
  router.get('/ai', requireAdmin, (_req, res) => {
    res.json(deps.ai.status());
  });
  router.post('/ai/description', requireAdmin, limit({ name: 'ai-description', perMinute: deps.config.ai.perMinute, by: 'user' }), async (req, res) => {
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
  return router;
}
