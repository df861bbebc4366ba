import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { idempotencyKeySchema } from '@dropspot/protocol';
import { sql } from 'kysely';
import { db, secondsInterval } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import { IdempotencyKeySchema } from './idempotency.entity.ts';

/** A key still IN_FLIGHT after this long belongs to a request that died with its process. */
const ABANDONED_AFTER_MS = 60_000;

function fingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${JSON.stringify(body ?? null)}`).digest('hex');
}

/**
 * Honours `Idempotency-Key` on a signed-in route (Stripe's semantics): the same key and request
 * replay the first success; the same key with another request is 422; a request still running
 * with that key is 409. Keys are kept in the database, so they hold across processes and restarts.
 * Only successes are remembered: after an error the client may retry with the same key. A client
 * that goes away does not end the request: its key stays in flight until the handler answers.
 */
export function idempotent(orm: Orm): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('idempotency-key');
    if (header === undefined || !req.auth) return next();
    const parsed = idempotencyKeySchema.safeParse(header);
    if (!parsed.success) {
      throw new DomainError('VALIDATION_FAILED', 'The Idempotency-Key header is not valid.', {
        issues: [{ path: 'Idempotency-Key', message: parsed.error.issues[0]?.message ?? 'invalid', code: 'invalid' }],
      });
    }
    const key = parsed.data;
    const userId = req.auth.userId;
    const print = fingerprint(req.method, req.baseUrl + req.path, req.body);
    const em = orm.em.fork();

    const inserted = await db(em)
      .insertInto('idempotency_key')
      .values({ user: userId, key, fingerprint: print, state: 'IN_FLIGHT', createdAt: sql<Date>`now()` })
      .onConflict((conflict) =>
        conflict
          .columns(['user', 'key'])
          .doUpdateSet({ fingerprint: (eb) => eb.ref('excluded.fingerprint'), state: 'IN_FLIGHT', createdAt: sql<Date>`now()` })
          .where('idempotency_key.state', '=', 'IN_FLIGHT')
          .where('idempotency_key.createdAt', '<', sql<Date>`now() - ${secondsInterval(ABANDONED_AFTER_MS / 1000)}`),
      )
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const stored = await em.findOne(IdempotencyKeySchema, { user: userId, key });
      if (!stored) throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'This Idempotency-Key is in use; retry shortly.', { extra: { retryAfter: 1 } });
      if (stored.fingerprint !== print) {
        throw new DomainError('IDEMPOTENCY_KEY_MISMATCH', 'This Idempotency-Key was used for a different request.');
      }
      if (stored.state === 'IN_FLIGHT') {
        throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress.', { extra: { retryAfter: 1 } });
      }
      res.setHeader('Idempotent-Replayed', 'true');
      res.status(stored.responseStatus ?? 200).json(stored.responseBody);
      return;
    }

    const rowId = inserted.id;
    // The key stays IN_FLIGHT until the handler answers, whether or not the client is still
    // connected: a retry meanwhile gets 409 and one afterwards the stored success, so an aborted
    // request's action never runs twice. Only an error answer releases the key (a retry runs again).
    settle(
      res,
      (status, body) => orm.em.fork().nativeUpdate(IdempotencyKeySchema, { id: rowId }, { state: 'DONE', responseStatus: status, responseBody: body }),
      () => orm.em.fork().nativeDelete(IdempotencyKeySchema, { id: rowId, state: 'IN_FLIGHT' }),
    );
    next();
  };
}

const isSuccess = (status: number) => status >= 200 && status < 300;

/**
 * Stores a success, or releases the key after an error, before the answer leaves: a client that
 * saw a success can always replay it, and one that saw an error may retry at once. If that write
 * fails the client still gets the original answer (claims are idempotent by user and drop anyway)
 * and the key is freed by the abandonment timeout. Errors leave through `res.send` (problem+json),
 * successes through `res.json`, which calls `res.send` with the serialised body.
 */
function settle(res: Response, store: (status: number, body: unknown) => Promise<unknown>, release: () => Promise<unknown>): void {
  const json = res.json.bind(res);
  const send = res.send.bind(res);
  const after = (write: Promise<unknown>, what: string, answer: () => void) => {
    write.catch((error: unknown) => res.req.log.warn({ err: error }, what)).finally(answer);
    return res;
  };
  res.json = (body: unknown) => (isSuccess(res.statusCode) ? after(store(res.statusCode, body), 'could not store idempotent response', () => json(body)) : json(body));
  res.send = (body?: unknown) => (isSuccess(res.statusCode) ? send(body) : after(release(), 'could not release idempotency key', () => send(body)));
}
