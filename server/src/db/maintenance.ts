import type { Logger } from 'pino';
import { sql, type DeleteResult } from 'kysely';
import { db } from './kysely.ts';
import type { Orm } from './orm.ts';
import { pruneOutbox } from '../modules/events/retention.ts';

/**
 * Deletes rows that only matter for a while: request counters older than the longest window
 * that reads them, idempotency keys after a day, refresh sessions a week after they ended,
 * verification and reset links a week after they expired, spent proof-of-work challenges once
 * they expired (an expired challenge is refused for that alone), and, given a retention, published
 * events older than it (`pruneOutbox`: a prefix of the stream, never what a webhook still needs).
 */
export async function pruneExpiredRows(orm: Orm, options: { outboxRetentionHours?: number } = {}): Promise<Record<string, number>> {
  const q = db(orm.em.fork());
  const ago = (interval: string) => sql<Date>`now() - ${sql.lit(interval)}::interval`;
  const deleted = async (query: { executeTakeFirst(): Promise<DeleteResult> }) => Number((await query.executeTakeFirst()).numDeletedRows);
  return {
    userActions: await deleted(q.deleteFrom('user_action').where('at', '<', ago('1 hour'))),
    idempotencyKeys: await deleted(q.deleteFrom('idempotency_key').where('createdAt', '<', ago('24 hours'))),
    sessions: await deleted(q.deleteFrom('session').where((eb) => eb.or([eb('expiresAt', '<', ago('7 days')), eb('revokedAt', '<', ago('7 days'))]))),
    emailTokens: await deleted(q.deleteFrom('email_token').where('expiresAt', '<', ago('7 days'))),
    spentChallenges: await deleted(q.deleteFrom('spent_challenge').where('expiresAt', '<', sql<Date>`now()`)),
    ...(options.outboxRetentionHours === undefined ? {} : { outboxEvents: await pruneOutbox(orm, options.outboxRetentionHours) }),
  };
}

export function startMaintenance(orm: Orm, logger: Logger, options: { outboxRetentionHours?: number } = {}, everyMs = 10 * 60_000): () => void {
  const timer = setInterval(() => {
    pruneExpiredRows(orm, options)
      .then((deleted) => logger.debug({ deleted }, 'pruned expired rows'))
      .catch((error: unknown) => logger.warn({ err: error }, 'pruning expired rows failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
