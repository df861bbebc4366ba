import type { RequestHandler } from 'express';
import { z } from 'zod';
import { text, uuidSchema, type EventPage } from '@dropspot/protocol';
import { apiTokenViewSchema, createdApiTokenSchema, eventPageSchema } from '@dropspot/protocol/api';
import type { AuthService } from '../../modules/auth/auth.service.ts';
import { userId } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { requestActor } from '../../modules/audit/audit.ts';
import { DomainError } from '../../domain/errors.ts';
import { parseBody, parseId, parseQuery } from '../validate.ts';
import type { EventService } from '../../modules/events/event.service.ts';

const afterQuerySchema = z.object({
  /** Without it, from the oldest event kept; with it, EVENTS_EXPIRED when events after it were pruned. */
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const createTokenSchema = z.strictObject({ name: text(100).pipe(z.string().min(1, 'required')) });

/** Admins, or an integration holding a live API token (Authorization: Bearer dsk_...). */
function requireStreamReader(events: EventService): RequestHandler {
  return async (req, _res, next) => {
    if (req.auth?.role === 'ADMIN') return next();
    const bearer = /^Bearer\s+(dsk_\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (bearer && (await events.verifyToken(bearer))) return next();
    if (req.auth) throw new DomainError('FORBIDDEN', 'This needs an admin account or an API token.');
    throw req.authError ?? new DomainError('UNAUTHENTICATED', 'Send an admin access token or an API token.');
  };
}

export function eventRoutes(deps: { events: EventService; auth: AuthService; onRevoke: (id: string) => void }): ApiRouter {
  const { events } = deps;
  const api = apiRouter();
  const tag = 'Events';

  /** Polling clients: published events after `after`, oldest first. */
  const pageDoc = {
    tag,
    access: 'stream',
    summary: 'Published events after `after`, oldest first (polling)',
    description:
      'An admin access token, or an API token (`Authorization: Bearer dsk_…`) while its creator is an admin. Without `after`, from the oldest event kept; an `after` older than the events kept is 410 EVENTS_EXPIRED (with `oldestEventId`).',
    query: afterQuerySchema,
    responses: { 200: eventPageSchema },
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'EVENTS_EXPIRED'],
  } as const;
  api.get('/events', pageDoc, requireStreamReader(events), async (req, res) => {
    const query = parseQuery(afterQuerySchema, req.query);
    const after = await events.startAfter(query.after);
    const [items, newest, oldest] = await Promise.all([events.after(after, query.limit), events.newestId(), events.oldestId()]);
    const page: EventPage = { items, next: items.at(-1)?.id ?? after, newest, oldest };
    res.json(page);
  });

  api.get('/api-tokens', { tag, access: 'admin', summary: 'API tokens for the event stream', responses: { 200: z.object({ items: z.array(apiTokenViewSchema) }) } }, async (_req, res) => {
    res.json({ items: await events.listTokens() });
  });

  const createDoc = { tag, access: 'admin', summary: 'Create an API token (its secret is shown once)', body: createTokenSchema, responses: { 201: createdApiTokenSchema } } as const;
  api.post('/api-tokens', createDoc, async (req, res) => {
    const body = parseBody(createTokenSchema, req.body);
    res.status(201).json(await events.createToken({ ...requestActor(req), userId: userId(req) }, body.name));
  });

  const revokeDoc = { tag, access: 'admin', summary: 'Revoke an API token (its stream sockets are closed)', params: { id: uuidSchema }, responses: { 204: null }, errors: ['NOT_FOUND'] } as const;
  api.delete('/api-tokens/:id', revokeDoc, async (req, res) => {
    const id = parseId(req.params.id, 'NOT_FOUND', 'API token');
    await events.revokeToken(id, requestActor(req));
    deps.onRevoke(id);
    res.status(204).end();
  });

  return api;
}
