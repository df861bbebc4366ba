import { createHmac } from 'node:crypto';
import { createChallenge, randomInt, verifySolution, type Challenge, type Payload } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { Config } from '../../config.ts';
import { db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';

/** How long a challenge may be solved and sent: enough for a slow phone and a person typing. */
const CHALLENGE_TTL_SECONDS = 10 * 60;
const ALGORITHM = 'PBKDF2/SHA-256';

export type PowService = ReturnType<typeof createPowService>;

/**
 * ALTCHA proof of work, self-hosted: challenges are signed with our key, so the server keeps
 * nothing until a solution comes back; then the challenge's signature is stored until it expires
 * so that one solution is accepted once. No address, account or device is recorded.
 */
export function createPowService(deps: { orm: Orm; config: Readonly<Config> }) {
  const { hmacKey, maxNumber, cost } = deps.config.pow;
  // A second key for the derived-key signature (verifying a solution is then one HMAC, not a
  // derivation); it comes from the one secret so there is one thing to configure.
  const keySignatureKey = createHmac('sha256', hmacKey).update('altcha key signature').digest('hex');

  /**
   * A fresh challenge. The counter is drawn by us and its key's prefix is what the solver must
   * find, so the work is the counter's size: on average `maxNumber / 2` attempts.
   */
  async function challenge(): Promise<Challenge> {
    return createChallenge({
      algorithm: ALGORITHM,
      cost,
      counter: randomInt(maxNumber),
      deriveKey,
      expiresAt: new Date(Date.now() + CHALLENGE_TTL_SECONDS * 1000),
      hmacSignatureSecret: hmacKey,
      hmacKeySignatureSecret: keySignatureKey,
    });
  }

  function decode(altcha: string): Payload {
    try {
      const payload = JSON.parse(Buffer.from(altcha, 'base64').toString('utf8')) as Payload;
      if (typeof payload?.challenge?.signature === 'string' && typeof payload.challenge.parameters === 'object' && typeof payload.solution === 'object' && payload.solution) {
        return payload;
      }
    } catch {
      // not base64 JSON: refused below like any other malformed payload
    }
    throw new DomainError('POW_INVALID', 'The proof-of-work payload is not a solved challenge.');
  }

  /** Accepts a solved challenge once: a missing, wrong, expired or already used one is refused. */
  async function redeem(altcha: string | undefined): Promise<void> {
    if (altcha === undefined) throw new DomainError('POW_REQUIRED', 'Solve the proof-of-work challenge first (GET /api/altcha/challenge), then send its payload as `altcha`.');
    const { challenge: solved, solution } = decode(altcha);
    let result: Awaited<ReturnType<typeof verifySolution>>;
    try {
      result = await verifySolution({ challenge: solved, solution, deriveKey, hmacSignatureSecret: hmacKey, hmacKeySignatureSecret: keySignatureKey });
    } catch (error) {
      // altcha-lib throws on parameters it cannot use (an unknown algorithm, say): still a bad payload.
      throw new DomainError('POW_INVALID', 'The proof-of-work payload is not a solved challenge.', { cause: error });
    }
    if (result.expired) throw new DomainError('POW_INVALID', 'The proof-of-work challenge has expired; solve a new one.');
    // A verified challenge carries our signature (the type allows one without).
    if (!result.verified || !solved.signature) throw new DomainError('POW_INVALID', 'The proof-of-work payload is not a solved challenge.');
    // Signed by us, so expiresAt is ours; the row lives as long as the challenge could be replayed.
    const expiresAt = new Date((solved.parameters.expiresAt ?? Date.now() / 1000 + CHALLENGE_TTL_SECONDS) * 1000);
    const spent = await db(deps.orm.em.fork())
      .insertInto('spent_challenge')
      .values({ signature: solved.signature, expiresAt })
      .onConflict((conflict) => conflict.doNothing())
      .executeTakeFirst();
    if (!spent.numInsertedOrUpdatedRows) throw new DomainError('POW_REPLAYED', 'This proof-of-work solution was already used; solve a new challenge.');
  }

  /** Joining a drop that requires proof of work: redeems `altcha`; other drops (and unknown ones, for the join to report) pass. */
  async function forDrop(dropId: string, altcha: string | undefined): Promise<void> {
    const drop = await db(deps.orm.em.fork()).selectFrom('drop').select('requirePow').where('id', '=', dropId).executeTakeFirst();
    if (drop?.requirePow) await redeem(altcha);
  }

  return { challenge, redeem, forDrop };
}
