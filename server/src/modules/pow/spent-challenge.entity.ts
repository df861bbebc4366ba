import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * A proof-of-work challenge whose solution was accepted, by its signature, until the challenge
 * expires (after that it is refused as expired anyway). The unique key makes a solution count
 * once across every server process. Nothing here says who solved it.
 */
export const SpentChallengeSchema = defineEntity({
  name: 'SpentChallenge',
  tableName: 'spent_challenge',
  properties: {
    signature: p.string().length(128).primary(),
    expiresAt: p.datetime().columnType('timestamptz').index(),
  },
});

export type SpentChallenge = InferEntity<typeof SpentChallengeSchema>;
