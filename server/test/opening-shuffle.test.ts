import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DropView, OpeningRankingView, RankingView } from '@dropspot/protocol';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { addToWaitlist, createDrop, createUser, createUsers, useTestApp } from './support/app.ts';

const { app, api } = useTestApp();

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** The published derivation, written out here on its own rather than imported from the server. */
const anonIdOf = (secret: string, userId: string) => createHmac('sha256', secret).update(userId).digest('hex').slice(0, 16);
const drawKeyOf = (secret: string, userId: string) => sha256(`draw|${secret}|${anonIdOf(secret, userId)}`);

const dir = mkdtempSync(path.join(tmpdir(), 'opening-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runVerifier = (...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/verify-ranking.ts'), ...args], { cwd: ROOT_DIR }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );

type User = Awaited<ReturnType<typeof createUsers>>[number];
const sql = <T = Record<string, unknown>>(query: string, params: unknown[] = []) => app.orm.em.fork().execute<T[]>(query, params);

/** An FCFS drop whose window opens now with a shuffled opening of `seconds`; its users are on the waitlist. */
async function openingDrop(seconds: number, totalSlots: number, users: User[]) {
  const drop = await createDrop(app, { totalSlots, startInMs: 3_600_000, endInMs: 7_200_000 });
  await addToWaitlist(app, drop.id, users.map((u) => u.id));
  await sql(`update "drop" set opening_shuffle_seconds = ?, claim_window_start = clock_timestamp() where id = ?`, [seconds, drop.id]);
  const [row] = await sql<{ secret: string }>(`select ranking_secret as secret from "drop" where id = ?`, [drop.id]);
  return { id: drop.id, secret: row!.secret };
}

const entries = async (dropId: string) => (await sql<{ n: number }>(`select count(*)::int as n from "opening_entry" where drop_id = ?`, [dropId]))[0]!.n;
const stillInOpening = async (dropId: string) =>
  (await sql<{ open: boolean }>(`select clock_timestamp() < claim_window_start + make_interval(secs => opening_shuffle_seconds) as open from "drop" where id = ?`, [dropId]))[0]!.open;

/** Claims in this order, each one recorded before the next is sent; the answers come when the opening is served. */
async function claimInOrder(dropId: string, users: User[]) {
  const answers: ReturnType<typeof api<any>>[] = [];
  for (const user of users) {
    const before = await entries(dropId);
    answers.push(api('POST', `/api/drops/${dropId}/claim`, { token: user.token }));
    await vi.waitFor(async () => expect(await entries(dropId)).toBe(before + 1), { timeout: 10_000, interval: 10 });
  }
  return answers;
}

describe('FCFS with a shuffled opening', () => {
  it('12 claims in the interval, 3 slots: the winners are the first 3 of the draw recomputed here, not the first to arrive; the published order verifies and tampering is caught', async () => {
    const users = await createUsers(app, 12);
    const drop = await openingDrop(8, 3, users);
    // Arrival order is the draw's reverse: first come, first served would pick exactly the wrong three.
    const drawn = [...users].sort((a, b) => (drawKeyOf(drop.secret, a.id) < drawKeyOf(drop.secret, b.id) ? -1 : 1));
    const arrival = [...drawn].reverse();
    const answers = await claimInOrder(drop.id, arrival);
    // The premise: all twelve were collected before the interval ended, and nobody was served yet.
    expect(await stillInOpening(drop.id)).toBe(true);
    expect((await sql<{ claimed: number }>(`select claimed from "drop" where id = ?`, [drop.id]))[0]!.claimed).toBe(0);

    const results = await Promise.all(answers);
    const winners = arrival.filter((_, i) => results[i]!.status === 201).map((u) => u.id);
    expect(new Set(winners)).toEqual(new Set(drawn.slice(0, 3).map((u) => u.id)));
    for (const [i, res] of results.entries()) {
      if (res.status !== 201) expect(res.body.code, `arrival ${i}`).toBe('SOLD_OUT');
    }
    const codes = await sql<{ user_id: string; code: string }>(`select user_id, code from "claim" where drop_id = ?`, [drop.id]);
    expect(codes.map((c) => c.user_id).sort()).toEqual([...winners].sort());
    expect(new Set(codes.map((c) => c.code)).size).toBe(3);

    // The drop says it was served; the published order is the draw, recomputed here from the revealed secret.
    const view = (await api('GET', `/api/drops/${drop.id}`)).body as DropView;
    expect(view.openingShuffleSeconds).toBe(8);
    expect(view.openingSettledAt).not.toBeNull();
    expect(view.remaining).toBe(0);
    const ranking = (await api('GET', `/api/drops/${drop.id}/ranking?limit=500`)).body as OpeningRankingView;
    expect(ranking).toMatchObject({ allocationMode: 'FCFS', revealed: true, openingShuffleSeconds: 8, slots: 3, total: 12, secret: drop.secret });
    expect(sha256(ranking.secret!)).toBe(view.rankingCommitment);
    expect(ranking.entries.map((e) => [e.rank, e.anonId, e.drawKey, e.outcome])).toEqual(
      drawn.map((u, i) => [i + 1, anonIdOf(drop.secret, u.id), drawKeyOf(drop.secret, u.id), i < 3 ? 'CLAIMED' : 'SOLD_OUT']),
    );

    const verified = await runVerifier(drop.id, '--url', app.baseUrl);
    expect(verified.stdout).toContain('OK: the shuffled opening (8 s)');
    expect(verified.code).toBe(0);
    // A copy where the 4th in the draw got the 3rd's code: the verifier names the problem.
    const file = path.join(dir, 'tampered.json');
    const tampered = structuredClone(ranking) as RankingView & OpeningRankingView;
    tampered.entries[2]!.outcome = 'SOLD_OUT';
    tampered.entries[3]!.outcome = 'CLAIMED';
    writeFileSync(file, JSON.stringify(tampered));
    const caught = await runVerifier(file);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toContain('rank 3');
    expect(caught.stdout).toContain('should be CLAIMED');
    // And an order that is not the draw's.
    const reordered = structuredClone(ranking);
    [reordered.entries[0], reordered.entries[1]] = [reordered.entries[1]!, reordered.entries[0]!];
    writeFileSync(file, JSON.stringify(reordered));
    expect((await runVerifier(file)).code).toBe(1);
  });

  it('one entry per person however often they claim, all answered with the same claim; claims after the interval are first come, first served', async () => {
    const [early, ...late] = await createUsers(app, 4);
    const drop = await openingDrop(3, 3, [early!, ...late]);
    const repeats = [0, 1, 2].map(() => api('POST', `/api/drops/${drop.id}/claim`, { token: early!.token }));
    const answers = await Promise.all(repeats);
    expect(await entries(drop.id)).toBe(1);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.claim.code)).size).toBe(1);

    // After the interval: arrival order, whatever the draw says. The one with the best key comes last and misses out.
    const byKey = [...late].sort((a, b) => (drawKeyOf(drop.secret, a.id) < drawKeyOf(drop.secret, b.id) ? -1 : 1));
    const order = [byKey[1]!, byKey[2]!, byKey[0]!];
    const statuses: number[] = [];
    for (const user of order) statuses.push((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status);
    expect(statuses).toEqual([201, 201, 409]);
    expect(await entries(drop.id)).toBe(1);
    const ranking = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as OpeningRankingView;
    expect(ranking.entries.map((e) => e.outcome)).toEqual(['CLAIMED']);
  });

  it('a pause during the interval: new claims are refused, the collected ones wait and are served, in draw order, the moment claims resume', async () => {
    const admin = await createUser(app, 'ADMIN');
    const users = await createUsers(app, 5);
    const drop = await openingDrop(6, 2, users);
    const answers = await claimInOrder(drop.id, users.slice(0, 4));
    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'pause' } })).status).toBe(200);
    const refused = await api('POST', `/api/drops/${drop.id}/claim`, { token: users[4]!.token });
    expect(refused.body.code).toBe('WINDOW_PAUSED');

    // The interval ends while paused: nobody is served, the collected claims are told why.
    const waited = await Promise.all(answers);
    expect(waited.map((a) => a.body.code)).toEqual(['WINDOW_PAUSED', 'WINDOW_PAUSED', 'WINDOW_PAUSED', 'WINDOW_PAUSED']);
    expect((await sql<{ claimed: number; settled: boolean }>(`select claimed, opening_settled_at is not null as settled from "drop" where id = ?`, [drop.id]))[0]).toEqual({ claimed: 0, settled: false });

    // Resuming serves the opening in the resume's own transaction: the first two of the draw.
    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'resume' } })).status).toBe(200);
    const drawn = users.slice(0, 4).sort((a, b) => (drawKeyOf(drop.secret, a.id) < drawKeyOf(drop.secret, b.id) ? -1 : 1));
    const claimed = await sql<{ user_id: string }>(`select user_id from "claim" where drop_id = ?`, [drop.id]);
    expect(claimed.map((c) => c.user_id).sort()).toEqual(drawn.slice(0, 2).map((u) => u.id).sort());
    // Asking again answers each with what the opening gave them.
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: drawn[0]!.token })).status).toBe(200);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: drawn[3]!.token })).body.code).toBe('SOLD_OUT');
    expect((await runVerifier(drop.id, '--url', app.baseUrl)).code).toBe(0);
  });

  it('the setting: FCFS only, 1–60 s, fixed once the window opens; its commitment is published before', async () => {
    const admin = await createUser(app, 'ADMIN');
    const start = new Date(Date.now() + 3_600_000).toISOString();
    const end = new Date(Date.now() + 7_200_000).toISOString();
    const base = { title: 'Shuffled', totalSlots: 5, claimWindowStart: start, claimWindowEnd: end };
    const created = await api('POST', '/api/admin/drops', { token: admin.token, body: { ...base, openingShuffleSeconds: 10 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ allocationMode: 'FCFS', openingShuffleSeconds: 10, openingSettledAt: null });
    expect(created.body.rankingCommitment).toMatch(/^[0-9a-f]{64}$/);
    const hidden = (await api('GET', `/api/drops/${created.body.id}/ranking`)).body as OpeningRankingView;
    expect(hidden).toMatchObject({ allocationMode: 'FCFS', revealed: false, secret: null, entries: [], commitment: created.body.rankingCommitment });

    for (const openingShuffleSeconds of [0, 61, 1.5, '10']) {
      const bad = await api('POST', '/api/admin/drops', { token: admin.token, body: { ...base, openingShuffleSeconds } });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('VALIDATION_FAILED');
    }
    const drawShuffle = await api('POST', '/api/admin/drops', { token: admin.token, body: { ...base, allocationMode: 'DRAW', openingShuffleSeconds: 10 } });
    expect(drawShuffle.status).toBe(400);
    const toPriority = await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { allocationMode: 'PRIORITY' } });
    expect(toPriority.status).toBe(400);
    expect(toPriority.body.issues[0].path).toBe('openingShuffleSeconds');
    expect((await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { openingShuffleSeconds: null } })).body.openingShuffleSeconds).toBeNull();
    expect((await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { openingShuffleSeconds: 30 } })).body.openingShuffleSeconds).toBe(30);

    expect((await api('POST', `/api/admin/drops/${created.body.id}/window`, { token: admin.token, body: { action: 'open-now' } })).status).toBe(200);
    const late = await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { openingShuffleSeconds: 5 } });
    expect(late.status).toBe(400);
    expect(late.body.issues[0]).toMatchObject({ path: 'openingShuffleSeconds', message: 'cannot change once the window has opened' });
    // An FCFS drop without one has no ranking.
    const plain = await createDrop(app);
    expect((await api('GET', `/api/drops/${plain.id}/ranking`)).status).toBe(404);
  });
});
