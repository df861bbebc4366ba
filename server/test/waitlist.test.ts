import { describe, expect, it } from 'vitest';
import { UserSchema } from '../src/modules/users/user.entity.ts';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { createPriorityFormula } from '../src/modules/waitlist/priority.ts';
import { createHash } from 'node:crypto';
import { createDrop, createUser, createUsers, useTestApp } from './support/app.ts';

const { app, api } = useTestApp();

describe('join and leave', () => {
  it('join is idempotent: 201 then 200 with the same entry', async () => {
    const drop = await createDrop(app, { startInMs: 60_000, endInMs: 120_000 });
    const user = await createUser(app);
    const first = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    const second = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    expect([first.status, first.body.created]).toEqual([201, true]);
    expect([second.status, second.body.created]).toEqual([200, false]);
    expect(second.body.entry).toEqual(first.body.entry);
    expect(first.body.entry.position).toBe(1);
    expect(await app.orm.em.fork().count(WaitlistSchema, { drop: drop.id })).toBe(1);
  });

  it('parallel joins by one user create one entry', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    const results = await Promise.all(Array.from({ length: 10 }, () => api('POST', `/api/drops/${drop.id}/join`, { token: user.token })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(await app.orm.em.fork().count(WaitlistSchema, { drop: drop.id })).toBe(1);
  });

  it('leave is idempotent and keeps a claim already made', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    expect((await api('POST', `/api/drops/${drop.id}/leave`, { token: user.token })).body).toEqual({ left: false });
    await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    const claim = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(claim.status).toBe(201);
    expect((await api('POST', `/api/drops/${drop.id}/leave`, { token: user.token })).body).toEqual({ left: true });
    expect((await api('POST', `/api/drops/${drop.id}/leave`, { token: user.token })).body).toEqual({ left: false });
    const detail = await api('GET', `/api/drops/${drop.id}`, { token: user.token });
    expect(detail.body.me.claim.code).toBe(claim.body.claim.code);
    expect(detail.body.me.waitlist).toBeNull();
  });

  it('closes joining when the window ends (WAITLIST_CLOSED) and needs a visible drop and a user', async () => {
    const ended = await createDrop(app, { startInMs: -120_000, endInMs: -60_000 });
    const hidden = await createDrop(app, { isActive: false });
    const user = await createUser(app);
    expect((await api('POST', `/api/drops/${ended.id}/join`, { token: user.token })).body.code).toBe('WAITLIST_CLOSED');
    expect((await api('POST', `/api/drops/${hidden.id}/join`, { token: user.token })).body.code).toBe('DROP_NOT_FOUND');
    expect((await api('POST', `/api/drops/${hidden.id}/leave`, { token: user.token })).body.code).toBe('DROP_NOT_FOUND');
    expect((await api('POST', `/api/drops/${ended.id}/join`)).status).toBe(401);
  });
});

describe('priority score and position', () => {
  it('stores the score from the published formula with every input measured by the server', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    // An account 40 days old, with two earlier actions inside the last minute (a join and a leave elsewhere).
    await app.orm.em.fork().nativeUpdate(UserSchema, { id: user.id }, { createdAt: new Date(Date.now() - 40 * 86_400_000 - 5000) });
    const other = await createDrop(app);
    await api('POST', `/api/drops/${other.id}/join`, { token: user.token });
    await api('POST', `/api/drops/${other.id}/leave`, { token: user.token });
    const res = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token });
    const { breakdown, priorityScore } = res.body.entry;
    expect(breakdown.accountAgeDays).toBe(40);
    expect(breakdown.rapidActions).toBe(2);
    expect(breakdown.signupLatencyMs).toBeGreaterThanOrEqual(120_000);

    const published = (await api('GET', '/api/priority')).body;
    const expectedSeed = createHash('sha256')
      .update(`${published.inputs.remoteUrl}|${published.inputs.firstCommitEpoch}|${published.inputs.startTime}`)
      .digest('hex')
      .slice(0, 12);
    expect(published.seed).toBe(expectedSeed);
    const { A, B, C } = published.coefficients;
    expect(A).toBe(7 + (parseInt(expectedSeed.slice(0, 2), 16) % 5));
    expect(B).toBe(13 + (parseInt(expectedSeed.slice(2, 4), 16) % 7));
    expect(C).toBe(3 + (parseInt(expectedSeed.slice(4, 6), 16) % 3));
    expect(priorityScore).toBe(1000 + (breakdown.signupLatencyMs % A) + (40 % B) - (2 % C));
    expect(breakdown.score).toBe(priorityScore);
  });

  it('derives the seed from configuration, with the case start time by default', () => {
    const formula = createPriorityFormula({ remoteUrl: 'r', firstCommitEpoch: 1, startTime: '202511041800', base: 500 });
    expect(formula.view.seed).toBe(createHash('sha256').update('r|1|202511041800').digest('hex').slice(0, 12));
    expect(formula.score({ signupLatencyMs: 0, accountAgeDays: 0, rapidActions: 0 }).score).toBe(500);
  });

  it('ranks by score descending, then join time ascending', async () => {
    const drop = await createDrop(app);
    const [a, b, c] = await createUsers(app, 3);
    for (const u of [a!, b!, c!]) await api('POST', `/api/drops/${drop.id}/join`, { token: u.token });
    const em = app.orm.em.fork();
    // Make the last joiner the highest score and tie the other two.
    await em.nativeUpdate(WaitlistSchema, { user: c!.id, drop: drop.id }, { priorityScore: 5000 });
    await em.nativeUpdate(WaitlistSchema, { drop: drop.id, user: { $in: [a!.id, b!.id] } }, { priorityScore: 1000 });
    const positions = await Promise.all([a!, b!, c!].map((u) => api('GET', `/api/drops/${drop.id}/position`, { token: u.token })));
    expect(positions.map((p) => p.body.position)).toEqual([2, 3, 1]);
    expect(positions[0]!.body.waitlistCount).toBe(3);
    expect(positions[0]!.body.breakdown.score).toBeTypeOf('number');

    const outsider = await createUser(app);
    const none = await api('GET', `/api/drops/${drop.id}/position`, { token: outsider.token });
    expect([none.status, none.body.code]).toEqual([409, 'NOT_ON_WAITLIST']);
  });
});

describe('GET /api/me/waitlists', () => {
  it('lists the user\'s waitlists with their current positions, and nobody else\'s', async () => {
    const [first, second] = [await createDrop(app), await createDrop(app, { startInMs: 60_000, endInMs: 120_000 })];
    const [me, other] = await createUsers(app, 2);
    await api('POST', `/api/drops/${first.id}/join`, { token: other!.token });
    await app.orm.em.fork().nativeUpdate(WaitlistSchema, { user: other!.id }, { priorityScore: 99_999 });
    await api('POST', `/api/drops/${first.id}/join`, { token: me!.token });
    await api('POST', `/api/drops/${second.id}/join`, { token: me!.token });
    const res = await api('GET', '/api/me/waitlists', { token: me!.token });
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { dropId: string }) => i.dropId).sort()).toEqual([first.id, second.id].sort());
    const onFirst = res.body.items.find((i: { dropId: string }) => i.dropId === first.id);
    expect(onFirst).toMatchObject({ position: 2, waitlistCount: 2, dropTitle: first.title });
    expect((await api('GET', '/api/me/waitlists')).status).toBe(401);
  });
});
