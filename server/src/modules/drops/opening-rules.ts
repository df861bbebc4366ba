import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { UpdateDropBody } from '@dropspot/protocol';
import { clock, db } from '../../db/kysely.ts';
import { DomainError } from '../../domain/errors.ts';
import type { Drop } from './drop.entity.ts';

const refuse = (message: string) =>
  new DomainError('VALIDATION_FAILED', message, { issues: [{ path: 'openingShuffleSeconds', message, code: 'custom' }] });

/**
 * An edit's effect on the shuffled opening (docs/domain.md): only an FCFS drop has one, and it
 * cannot change once the window has opened (the claims of its interval are judged by it). Setting
 * one on a drop without a secret draws the secret that its commitment publishes. The drop's row is
 * locked by the caller.
 */
export async function checkOpeningShuffle(em: EntityManager, drop: Drop, body: UpdateDropBody): Promise<void> {
  const seconds = body.openingShuffleSeconds !== undefined ? body.openingShuffleSeconds : (drop.openingShuffleSeconds ?? null);
  const mode = body.allocationMode ?? drop.allocationMode;
  if (seconds !== null && mode !== 'FCFS') throw refuse('only a first-come-first-served drop can shuffle its opening');
  if (body.openingShuffleSeconds === undefined || body.openingShuffleSeconds === (drop.openingShuffleSeconds ?? null)) return;
  const opened = await db(em)
    .selectFrom('drop')
    .select((eb) => eb('claimWindowStart', '<=', clock).as('opened'))
    .where('id', '=', drop.id)
    .executeTakeFirst();
  if (opened?.opened) throw refuse('cannot change once the window has opened');
  if (seconds !== null && !drop.rankingSecret) drop.rankingSecret = randomBytes(32).toString('hex');
}
