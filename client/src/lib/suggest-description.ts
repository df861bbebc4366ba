import { createParser } from 'eventsource-parser';
import { SUGGESTION_EVENTS, type SuggestDescriptionBody, type SuggestionDelta, type SuggestionError } from '@dropspot/protocol';
import { ApiError, REFRESHABLE, failure, refreshSession } from './api.ts';

const PATH = '/api/admin/ai/description';

function post(body: SuggestDescriptionBody, signal: AbortSignal): Promise<Response> {
  return fetch(PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  }).catch((error: unknown) => {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError({ status: 0, code: 'NETWORK', detail: 'Cannot reach DropSpot. Check your connection and try again.' });
  });
}

/**
 * Asks the server for a suggested description and hands each piece of text to `onText` as it
 * streams in (server-sent events). Resolves when the suggestion is complete; rejects with an
 * ApiError carrying the server's code (AI_NOT_CONFIGURED, AI_UNAVAILABLE, AI_TIMEOUT,
 * RATE_LIMITED, …) and its plain-words message, or with an AbortError when `signal` stops it.
 */
export async function streamSuggestion(body: SuggestDescriptionBody, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
  let response = await post(body, signal);
  if (response.status === 401) {
    const refused = await failure(response);
    if (!REFRESHABLE.has(refused.code) || !(await refreshSession().catch(() => null))) throw refused;
    response = await post(body, signal);
  }
  if (!response.ok || !response.body) throw await failure(response);

  let ended: SuggestionError | 'done' | undefined;
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === SUGGESTION_EVENTS.delta) onText((JSON.parse(event.data) as SuggestionDelta).text);
      else if (event.event === SUGGESTION_EVENTS.done) ended = 'done';
      else if (event.event === SUGGESTION_EVENTS.error) ended = JSON.parse(event.data) as SuggestionError;
    },
  });
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError({ status: 0, code: 'NETWORK', detail: 'The connection dropped while the suggestion was arriving. Try again.' });
  }
  if (ended === 'done') return;
  if (ended) throw new ApiError({ status: 424, code: ended.code, detail: ended.message });
  throw new ApiError({ status: 0, code: 'NETWORK', detail: 'The suggestion stopped part-way. Try again.' });
}
