import type { Logger } from 'pino';
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
  const em = orm.em.fork();
  const run = async (sql: string) => (await em.getConnection().execute<{ affectedRows: number }>(sql, [], 'run')).affectedRows;
  return {
    userActions: await run(`delete from "user_action" where at < now() - interval '1 hour'`),
    idempotencyKeys: await run(`delete from "idempotency_key" where created_at < now() - interval '24 hours'`),
    sessions: await run(`delete from "session" where expires_at < now() - interval '7 days' or revoked_at < now() - interval '7 days'`),
    emailTokens: await run(`delete from "email_token" where expires_at < now() - interval '7 days'`),
    spentChallenges: await run(`delete from "spent_challenge" where expires_at < now()`),
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
