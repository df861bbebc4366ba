import { describe, expect, it, vi } from 'vitest';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { addToWaitlist, createDrop, createUsers, useTestApp } from './support/app.ts';

/**
 * Codes collide about once in 10^17 draws; here the first draws all return one code, so a batch
 * hits the unique index and must settle each claim alone, each with its own outcome.
 */
const draws = vi.hoisted(() => ({ colliding: 0 }));
vi.mock('../src/modules/claims/claim-code.ts', async (importOriginal) => {
  const real = await importOriginal<{ newClaimCode: () => string }>();
  return { newClaimCode: () => (draws.colliding-- > 0 ? 'AAAA-BBBB-CCCC' : real.newClaimCode()) };
});

const { app } = useTestApp();

describe('a batch that collides on a claim code', () => {
  it('is rolled back and settled claim by claim: everyone is answered with their own outcome', async () => {
    const drop = await createDrop(app, { totalSlots: 4 });
    const users = await createUsers(app, 6);
    await addToWaitlist(app, drop.id, users.slice(0, 5).map((u) => u.id));
    draws.colliding = 3;
    const results = await Promise.all(users.map((u) => app.services.claims.claim(u.id, drop.id).then((r) => r, (e: { code?: string }) => e.code ?? 'ERROR')));
    const created = results.filter((r) => typeof r === 'object' && r.created) as { claim: { code: string } }[];
    expect(created).toHaveLength(4);
    expect(new Set(created.map((r) => r.claim.code)).size).toBe(4);
    expect(results.filter((r) => r === 'SOLD_OUT')).toHaveLength(1);
    expect(results.at(-1)).toBe('NOT_ON_WAITLIST');
    const stored = await app.orm.em.fork().find(ClaimSchema, { drop: drop.id });
    expect(stored.map((c) => c.code).sort()).toEqual(created.map((r) => r.claim.code).sort());
  });
});
