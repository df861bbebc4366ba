import { setTimeout as delay } from 'node:timers/promises';
import type { EntityManager } from '@mikro-orm/postgresql';
import { isTransientConflict } from './failures.ts';
import type { Orm } from './orm.ts';

/** Attempts in all before a conflict is answered as 503 (see `http/problem.ts`). */
const ATTEMPTS = 5;

/**
 * One unit of work in one transaction on a fresh fork, run again from the start when PostgreSQL
 * aborts it for a deadlock or a serialization failure (or the work asks for it with
 * `RetryTransaction`): the other side has gone through, so the next attempt usually passes. A
 * short randomised pause keeps two retrying sides from meeting again in lockstep. The work must
 * keep its effects inside the transaction (events go to the outbox, notifications after commit),
 * so running it twice is running it once.
 */
export async function transaction<T>(orm: Orm, work: (em: EntityManager) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await orm.em.fork().transactional(work);
    } catch (error) {
      if (attempt >= ATTEMPTS || !isTransientConflict(error)) throw error;
      await delay(Math.random() * 20 * 2 ** attempt);
    }
  }
}
