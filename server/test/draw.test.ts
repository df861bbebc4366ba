import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DropView, MyWaitlistEntry, RankingView } from '@dropspot/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { verifyRanking } from '../src/modules/reservations/ranking.ts';
import { client, createDrop, createUser, createUsers, startTestApp, type TestApp } from './support/app.ts';

let app: TestApp;
let api: ReturnType<typeof client>;
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  app = await startTestApp();
  api = client(app.baseUrl);
  admin = await createUser(app, 'ADMIN');
});
afterAll(async () => {
  await app.close();
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** The published derivation, written out here on its own rather than imported from the server. */
const anonIdOf = (secret: string, userId: string) => createHmac('sha256', secret).update(userId).digest('hex').slice(0, 16);
const drawKeyOf = (secret: string, anonId: string) => sha256(`draw|${secret}|${anonId}`);

const runVerifier = (...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/verify-ranking.ts'), ...args], { cwd: ROOT_DIR }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );

describe('DRAW drops', () => {
  it('30 joiners, 5 slots: a committed random order, 5 holds in draw order, verifiable, not join or score order; others wait their turn; expired holds pass down the draw', async () => {
    const users = await createUsers(app, 30);
    const drop = await createDrop(app, { allocationMode: 'DRAW', totalSlots: 5, holdSeconds: 5, startInMs: 60_000, endInMs: 600_000 });

    // Real joins, one after the other: join order is the users' order.
    for (const user of users) expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    // Scores falling with join order: a draw that listened to either would list the users in this order.
    await app.orm.em.fork().execute(
      `update "waitlist" w set priority_score = 1000 - o.n from (select id, row_number() over (order by joined_at, id)::int as n from "waitlist" where drop_id = ?) o where w.id = o.id`,
      [drop.id],
    );

    // Before the opening: the mode and the commitment are published, the secret is not.
    const before = (await api('GET', `/api/drops/${drop.id}`)).body as DropView;
    expect(before.allocationMode).toBe('DRAW');
    expect(before.rankingCommitment).toMatch(/^[0-9a-f]{64}$/);
    const hidden = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as RankingView;
    expect(hidden).toMatchObject({ allocationMode: 'DRAW', revealed: false, secret: null, entries: [], commitment: before.rankingCommitment });
    // The joiners' own lists say the draw is still to come: the join order is no place in it.
    const mineBefore = (await api('GET', '/api/me/waitlists', { token: users[1]!.token })).body as { items: MyWaitlistEntry[] };
    expect(mineBefore.items.find((i) => i.dropId === drop.id)).toMatchObject({ allocationMode: 'DRAW', drawPending: true, waitlistCount: 30 });
    const positionBefore = await api('GET', `/api/drops/${drop.id}/position`, { token: users[1]!.token });
    expect(positionBefore.body).toMatchObject({ drawPending: true, waitlistCount: 30 });

    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'open-now' } })).status).toBe(200);

    // Joining closed at the opening.
    const late = await createUser(app);
    const refused = await api('POST', `/api/drops/${drop.id}/join`, { token: late.token });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('WAITLIST_CLOSED');

    const ranking = (await api('GET', `/api/drops/${drop.id}/ranking?limit=100`)).body as RankingView;
    if (ranking.allocationMode !== 'DRAW') throw new Error(`expected a DRAW ranking, got ${ranking.allocationMode}`);
    expect(ranking).toMatchObject({ revealed: true, total: 30, formula: null });
    const secret = ranking.secret!;
    expect(sha256(secret)).toBe(before.rankingCommitment);

    // Independent recomputation: every joiner's key from the revealed secret, sorted.
    const drawn = users.map((user) => ({ user, anonId: anonIdOf(secret, user.id) })).map((e) => ({ ...e, key: drawKeyOf(secret, e.anonId) }));
    drawn.sort((a, b) => (a.key < b.key ? -1 : 1));
    expect(ranking.entries.map((e) => [e.rank, e.anonId, e.drawKey])).toEqual(drawn.map((e, i) => [i + 1, e.anonId, e.key]));
    // Neither join order nor score order (they are the same order here).
    expect(drawn.map((e) => e.user.id)).not.toEqual(users.map((u) => u.id));

    // The first 5 in the draw hold the reservations, and only they.
    const at = (rank: number) => drawn[rank - 1]!.user;
    // Drawn: each joiner's list shows their place in the draw.
    for (const rank of [1, 17]) {
      const mine = (await api('GET', '/api/me/waitlists', { token: at(rank).token })).body as { items: MyWaitlistEntry[] };
      expect(mine.items.find((i) => i.dropId === drop.id)).toMatchObject({ drawPending: false, position: rank });
      expect((await api('GET', `/api/drops/${drop.id}/position`, { token: at(rank).token })).body).toMatchObject({ drawPending: false, position: rank });
    }
    const line = await app.services.reservations.adminView(drop.id);
    expect(line.items.map((i) => [i.rank, i.userId])).toEqual(drawn.map((e, i) => [i + 1, e.user.id]));
    expect(line.items.filter((i) => i.status === 'GRANTED').map((i) => i.rank)).toEqual([1, 2, 3, 4, 5]);

    const notYet = await api('POST', `/api/drops/${drop.id}/claim`, { token: at(6).token });
    expect(notYet.status).toBe(409);
    expect(notYet.body).toMatchObject({ code: 'NOT_YOUR_TURN', reservation: { rank: 6, status: 'WAITING' } });
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: at(1).token })).status).toBe(201);

    // The verifier CLI agrees, by drop id against the running app.
    const verified = await runVerifier(drop.id, '--url', app.baseUrl);
    expect(verified.stdout).toContain('OK');
    expect(verified.code).toBe(0);

    // Ranks 2-5 let their holds run out: the next four in the draw get them, in draw order.
    await vi.waitFor(
      async () => {
        const now = await app.services.reservations.adminView(drop.id);
        expect(now.items.filter((i) => i.status === 'GRANTED').map((i) => i.rank)).toEqual([6, 7, 8, 9]);
      },
      { timeout: 20_000, interval: 50 },
    );
    const after = await app.services.reservations.adminView(drop.id);
    expect(after.items.filter((i) => i.status === 'EXPIRED').map((i) => i.rank)).toEqual([2, 3, 4, 5]);
    expect(after.items.filter((i) => i.status === 'CLAIMED').map((i) => i.rank)).toEqual([1]);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: at(6).token })).status).toBe(201);
  });

  it('the verifier finds a tampered draw: swapped places, a forged draw key, a wrong secret', async () => {
    const users = await createUsers(app, 8);
    const drop = await createDrop(app, { allocationMode: 'DRAW', totalSlots: 2, startInMs: 60_000, endInMs: 600_000 });
    for (const user of users) expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'open-now' } });
    const ranking = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as RankingView;
    if (ranking.allocationMode !== 'DRAW') throw new Error(`expected a DRAW ranking, got ${ranking.allocationMode}`);
    expect(verifyRanking(ranking)).toEqual([]);

    const swapped = structuredClone(ranking);
    [swapped.entries[0], swapped.entries[1]] = [{ ...swapped.entries[1]!, rank: 1 }, { ...swapped.entries[0]!, rank: 2 }];
    expect(verifyRanking(swapped).join('\n')).toMatch(/order: position 1 should be/);
    const forged = structuredClone(ranking);
    forged.entries[3]!.drawKey = '0'.repeat(64);
    expect(verifyRanking(forged).join('\n')).toMatch(/rank 4 .*draw key/);
    const wrongSecret = { ...structuredClone(ranking), secret: 'f'.repeat(64) };
    expect(verifyRanking(wrongSecret).join('\n')).toContain('commitment');
  });
});
