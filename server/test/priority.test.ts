import { execFile } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PriorityRankingView, ReservationView } from '@dropspot/protocol';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { verifyRanking } from '../src/modules/reservations/ranking.ts';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { createDrop, createUser, createUsers, useTestApp } from './support/app.ts';
import { collect, connect, connected, next, request, sleep } from './support/sockets.ts';

const { app, api } = useTestApp();
let admin: Awaited<ReturnType<typeof createUser>>;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'dropspot-ranking-'));

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
});

type User = Awaited<ReturnType<typeof createUsers>>[number];

/**
 * Waitlist entries with real scores from the app's formula (so the verifier can recompute them).
 * Scores repeat and every entry shares one joinedAt, so many places are settled by the tie-break.
 */
async function rankedWaitlist(dropId: string, userIds: string[]) {
  const joinedAt = new Date(Date.now() - 30_000);
  await app.orm.em.fork().insertMany(
    WaitlistSchema,
    userIds.map((user, i) => {
      const breakdown = app.services.formula.score({ signupLatencyMs: (i % 5) * 1000, accountAgeDays: i % 3, rapidActions: i % 2 });
      return { id: randomUUID(), user, drop: dropId, priorityScore: breakdown.score, scoreBreakdown: breakdown, joinedAt };
    }),
  );
}

async function priorityDrop(users: User[], options: { totalSlots: number; holdSeconds?: number; startInMs?: number }) {
  const drop = await createDrop(app, { allocationMode: 'PRIORITY', holdSeconds: 1, startInMs: 60_000, endInMs: 600_000, ...options });
  await rankedWaitlist(drop.id, users.map((u) => u.id));
  return drop;
}

const openNow = (dropId: string) => api('POST', `/api/admin/drops/${dropId}/window`, { token: admin.token, body: { action: 'open-now' } });
const claim = (dropId: string, user: User) => api('POST', `/api/drops/${dropId}/claim`, { token: user.token });
const leave = (dropId: string, user: User) => api('POST', `/api/drops/${dropId}/leave`, { token: user.token });
const line = (dropId: string) => app.services.reservations.adminView(dropId);

function until<T>(what: string, read: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!ok(value)) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 500)}`);
      return value;
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** The invariants that must hold in every committed state of a PRIORITY drop. */
async function checkInvariants(dropId: string) {
  const [row] = await app.orm.em.fork().execute<
    { total_slots: number; claimed: number; claims: number; granted: number; claimed_res: number; waiting: number; open: boolean; orphan_claims: number; dupes: number }[]
  >(
    `select d.total_slots, d.claimed, clock_timestamp() < d.claim_window_end as open,
            (select count(*)::int from "claim" c where c.drop_id = d.id) as claims,
            (select count(*)::int from "reservation" r where r.drop_id = d.id and r.status = 'GRANTED') as granted,
            (select count(*)::int from "reservation" r where r.drop_id = d.id and r.status = 'CLAIMED') as claimed_res,
            (select count(*)::int from "reservation" r where r.drop_id = d.id and r.status = 'WAITING') as waiting,
            (select count(*)::int from "claim" c where c.drop_id = d.id and not exists
               (select 1 from "reservation" r where r.drop_id = d.id and r.user_id = c.user_id and r.status = 'CLAIMED')) as orphan_claims,
            (select count(*)::int - count(distinct user_id)::int from "reservation" r where r.drop_id = d.id) as dupes
       from "drop" d where d.id = ?`,
    [dropId],
  );
  expect(row!.claimed).toBe(row!.claims);
  expect(row!.claims).toBeLessThanOrEqual(row!.total_slots);
  expect(row!.claimed_res).toBe(row!.claims);
  expect(row!.orphan_claims).toBe(0);
  expect(row!.dupes).toBe(0);
  expect(row!.claimed + row!.granted).toBeLessThanOrEqual(row!.total_slots);
  // No slot lost: while anyone is still waiting, every free slot is held by a reservation.
  if (row!.waiting > 0 && row!.open) expect(row!.claimed + row!.granted).toBe(row!.total_slots);
  return row!;
}

describe('PRIORITY drops: mode, commitment and joining', () => {
  it('admins create and switch the mode before the window opens; the commitment is published, the secret is not', async () => {
    const start = new Date(Date.now() + 3600_000).toISOString();
    const end = new Date(Date.now() + 7200_000).toISOString();
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Ranked', totalSlots: 5, claimWindowStart: start, claimWindowEnd: end, allocationMode: 'PRIORITY', holdSeconds: 120 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ allocationMode: 'PRIORITY', holdSeconds: 120, rankingFrozenAt: null });
    expect(created.body.rankingCommitment).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(created.body)).not.toMatch(/secret/i);

    const fcfs = await api('POST', '/api/admin/drops', { token: admin.token, body: { title: 'Plain', totalSlots: 5, claimWindowStart: start, claimWindowEnd: end } });
    expect(fcfs.body).toMatchObject({ allocationMode: 'FCFS', holdSeconds: 600, rankingCommitment: null });
    expect((await api('GET', `/api/drops/${fcfs.body.id}/ranking`)).body.code).toBe('NOT_FOUND');
    const switched = await api('PATCH', `/api/admin/drops/${fcfs.body.id}`, { token: admin.token, body: { allocationMode: 'PRIORITY', holdSeconds: 30 } });
    expect(switched.body).toMatchObject({ allocationMode: 'PRIORITY', holdSeconds: 30 });

    const ranking = await api('GET', `/api/drops/${created.body.id}/ranking`);
    expect(ranking.status).toBe(200);
    expect(ranking.body).toMatchObject({ revealed: false, secret: null, entries: [], commitment: created.body.rankingCommitment });
    expect((await api('POST', '/api/admin/drops', { token: admin.token, body: { title: 'x', totalSlots: 1, claimWindowStart: start, claimWindowEnd: end, holdSeconds: 0 } })).body.code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('closes joining when the window opens, freezes once (open-now twice), and refuses a mode change afterwards', async () => {
    const users = await createUsers(app, 4);
    const drop = await priorityDrop(users.slice(0, 3), { totalSlots: 2 });
    // Joining before the opening is a normal join.
    const early = await createUser(app);
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: early.token })).status).toBe(201);
    expect((await openNow(drop.id)).body.rankingFrozenAt).not.toBeNull();
    const first = await line(drop.id);
    expect(first.items).toHaveLength(4);
    expect(first.counts).toMatchObject({ GRANTED: 2, WAITING: 2 });
    expect((await openNow(drop.id)).status).toBe(200);
    expect((await line(drop.id)).items.map((i) => [i.userId, i.rank, i.status])).toEqual(first.items.map((i) => [i.userId, i.rank, i.status]));

    const late = await api('POST', `/api/drops/${drop.id}/join`, { token: users[3]!.token });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('WAITLIST_CLOSED');
    const patch = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { allocationMode: 'FCFS' } });
    expect(patch.body.code).toBe('VALIDATION_FAILED');
  });

  it('freezes at the scheduled opening instant, with no request to trigger it', async () => {
    const users = await createUsers(app, 3);
    // Created through the API, as an admin would: the line's timer is set from the drop.created event.
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: {
        title: 'Opens shortly',
        totalSlots: 1,
        claimWindowStart: new Date(Date.now() + 700).toISOString(),
        claimWindowEnd: new Date(Date.now() + 600_000).toISOString(),
        allocationMode: 'PRIORITY',
        holdSeconds: 60,
      },
    });
    const drop = created.body as { id: string };
    await rankedWaitlist(drop.id, users.map((u) => u.id));
    const socket = await connected(connect(app.baseUrl, { auth: { token: users[0]!.token } }));
    const heard = collect<ReservationView>(socket, 'me:reservation');
    await until('the freeze', () => line(drop.id), (view) => view.frozenAt !== null, 3000);
    const granted = (await line(drop.id)).items.find((i) => i.status === 'GRANTED')!;
    if (granted.userId === users[0]!.id) await until('the push', () => heard, (h) => h.some((r) => r.status === 'GRANTED'));
    expect((await line(drop.id)).counts).toMatchObject({ GRANTED: 1, WAITING: 2 });
  });
});

describe('joining against the freeze', () => {
  it('joins racing the opening instant are either in the frozen ranking or refused WAITLIST_CLOSED, never lost', async () => {
    const users = await createUsers(app, 60);
    const opensAt = Date.now() + 1200;
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: {
        title: 'Join race',
        totalSlots: 10,
        claimWindowStart: new Date(opensAt).toISOString(),
        claimWindowEnd: new Date(opensAt + 600_000).toISOString(),
        allocationMode: 'PRIORITY',
        holdSeconds: 60,
      },
    });
    const dropId = (created.body as { id: string }).id;
    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId });
    const revealed = next<{ dropId: string; ranked: number }>(watcher, 'drop:ranking', (e) => e.dropId === dropId, 5000);
    // One join every 13 ms from 500 ms before the opening to about 280 ms after it.
    const results = await Promise.all(
      users.map(async (user, i) => {
        // Each join is due at a wall-clock instant around the opening, which no condition marks.
        await sleep(Math.max(0, opensAt - 500 + i * 13 - Date.now()));
        const res = await api('POST', `/api/drops/${dropId}/join`, { token: user.token });
        return { userId: user.id, status: res.status, code: (res.body as { code?: string }).code };
      }),
    );
    const event = await revealed;
    const view = await until('the freeze', () => line(dropId), (v) => v.frozenAt !== null);
    const ranked = new Set(view.items.map((i) => i.userId));
    for (const r of results) {
      if (r.status === 201) expect(ranked.has(r.userId)).toBe(true);
      else {
        expect(r.code).toBe('WAITLIST_CLOSED');
        expect(ranked.has(r.userId)).toBe(false);
      }
    }
    expect(results.some((r) => r.status === 201)).toBe(true);
    expect(results.some((r) => r.status === 409)).toBe(true);
    const waitlisted = await app.orm.em.fork().count(WaitlistSchema, { drop: dropId });
    expect(view.items).toHaveLength(waitlisted);
    expect(event.ranked).toBe(waitlisted);
  });
});

describe('verifiable ranking', () => {
  it('orders by score, then joinedAt, then a tie-break from the seed and the committed secret; anyone can recompute it', async () => {
    const users = await createUsers(app, 30);
    const drop = await priorityDrop(users, { totalSlots: 5 });
    const before = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as PriorityRankingView;
    await openNow(drop.id);
    const res = await api('GET', `/api/drops/${drop.id}/ranking`, { token: users[7]!.token });
    const ranking = res.body as PriorityRankingView & { me: { anonId: string; rank: number } };
    expect(ranking.revealed).toBe(true);
    expect(ranking.commitment).toBe(before.commitment);
    expect(createHash('sha256').update(ranking.secret!).digest('hex')).toBe(before.commitment);
    expect(ranking.formula).toEqual((await api('GET', '/api/priority')).body);
    expect(ranking.entries).toHaveLength(30);
    expect(JSON.stringify(ranking)).not.toContain(users[0]!.id);

    // Recomputed here from first principles, independently of the server's code.
    const secret = ranking.secret!;
    const expected = users
      .map((u) => {
        const anonId = createHmac('sha256', secret).update(u.id).digest('hex').slice(0, 16);
        const entry = ranking.entries.find((e) => e.anonId === anonId)!;
        return { anonId, score: entry.priorityScore, tie: createHash('sha256').update(`${ranking.formula.seed}|${secret}|${anonId}`).digest('hex') };
      })
      .sort((a, b) => b.score - a.score || (a.tie < b.tie ? -1 : 1));
    expect(ranking.entries.map((e) => e.anonId)).toEqual(expected.map((e) => e.anonId));
    expect(new Set(ranking.entries.map((e) => e.priorityScore)).size).toBeLessThan(30); // ties were settled by the tie-break
    expect(ranking.me.anonId).toBe(createHmac('sha256', secret).update(users[7]!.id).digest('hex').slice(0, 16));
    expect(ranking.entries[ranking.me.rank - 1]!.anonId).toBe(ranking.me.anonId);
    // The reservations went to the top 5 of exactly this order.
    const held = (await line(drop.id)).items.filter((i) => i.status === 'GRANTED').map((i) => createHmac('sha256', secret).update(i.userId).digest('hex').slice(0, 16));
    expect(held).toEqual(ranking.entries.slice(0, 5).map((e) => e.anonId));
    expect(verifyRanking(ranking)).toEqual([]);
  });

  it('npm run verify-ranking: exit 0 for a real ranking (by drop id or file), 1 with the differences for a tampered one', async () => {
    const users = await createUsers(app, 12);
    const drop = await priorityDrop(users, { totalSlots: 3 });
    await openNow(drop.id);
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/verify-ranking.ts'), ...args], { cwd: ROOT_DIR }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );

    const byId = await run(drop.id, '--url', app.baseUrl);
    expect(byId.stdout).toContain('OK');
    expect(byId.code).toBe(0);

    const ranking = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as PriorityRankingView;
    const file = path.join(tmp, 'ranking.json');
    writeFileSync(file, JSON.stringify(ranking));
    expect((await run(file)).code).toBe(0);

    // Swap two places, and inflate a score without changing its breakdown.
    const tampered = structuredClone(ranking);
    [tampered.entries[0], tampered.entries[1]] = [tampered.entries[1]!, tampered.entries[0]!];
    tampered.entries[0]!.rank = 1;
    tampered.entries[1]!.rank = 2;
    tampered.entries[5]!.priorityScore += 50;
    writeFileSync(file, JSON.stringify(tampered));
    const bad = await run(file);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('MISMATCH');
    expect(bad.stdout).toMatch(/rank 6 .*score/);
    expect(bad.stdout).toMatch(/order: position 1 should be/);

    const wrongSecret = { ...structuredClone(ranking), secret: 'f'.repeat(64) };
    writeFileSync(file, JSON.stringify(wrongSecret));
    const forged = await run(file);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toContain('commitment');
  });
});

describe('reservations, holds and backfill', () => {
  it('10 slots, 50 in line: holders claim, some holds expire, some leave; exactly 10 claims, in rank order, every backfill pushed to its socket', async () => {
    const users = await createUsers(app, 50);
    // 2 s holds: the first claims and leaves must land inside a hold even on a busy CI machine.
    const drop = await priorityDrop(users, { totalSlots: 10, holdSeconds: 2 });
    const heard = new Map<string, ReservationView[]>();
    for (const user of users) heard.set(user.id, collect(await connected(connect(app.baseUrl, { auth: { token: user.token } })), 'me:reservation'));

    await openNow(drop.id);
    const order = (await line(drop.id)).items.map((i) => users.find((u) => u.id === i.userId)!);
    const at = (rank: number) => order[rank - 1]!;
    const heardStatus = (rank: number, status: string) => heard.get(at(rank).id)!.some((r) => r.status === status);
    await until('grants pushed to ranks 1-10', () => null, () => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].every((r) => heardStatus(r, 'GRANTED')));
    expect(heardStatus(11, 'GRANTED')).toBe(false);
    const grant = heard.get(at(1).id)!.find((r) => r.status === 'GRANTED')!;
    expect(grant).toMatchObject({ dropId: drop.id, rank: 1, holdSeconds: 2 });
    expect(Date.parse(grant.expiresAt!) - Date.parse(grant.grantedAt!)).toBe(2000);

    // Not their turn: the answer says where they are in line.
    const early = await claim(drop.id, at(11));
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ code: 'NOT_YOUR_TURN', reservation: { rank: 11, status: 'WAITING', waitingAhead: 0, openReservations: 10, remaining: 10 } });
    const viaSocket = await request(await connected(connect(app.baseUrl, { auth: { token: at(20).token } })), 'drop:claim', { dropId: drop.id });
    expect(viaSocket).toMatchObject({ ok: false, code: 'NOT_YOUR_TURN', extra: { reservation: { rank: 20, waitingAhead: 9 } } });

    for (const rank of [1, 2, 3, 4]) expect((await claim(drop.id, at(rank))).status).toBe(201);
    // Leaving gives the reservation up at once: ranks 11 and 12 get it in the same transaction.
    for (const rank of [5, 6]) expect((await leave(drop.id, at(rank))).body.left).toBe(true);
    const afterLeave = await line(drop.id);
    expect(afterLeave.items.filter((i) => i.status === 'GRANTED').map((i) => i.rank)).toEqual([7, 8, 9, 10, 11, 12]);
    await until('pushes to 11 and 12', () => null, () => heardStatus(11, 'GRANTED') && heardStatus(12, 'GRANTED'));
    for (const rank of [11, 12]) expect((await claim(drop.id, at(rank))).status).toBe(201);
    await checkInvariants(drop.id);

    // Ranks 7-10 let their hold run out: 13-16 are backfilled and told on their sockets.
    await until('backfill of 13-16', () => null, () => [13, 14, 15, 16].every((r) => heardStatus(r, 'GRANTED')), 6000);
    await until('expiries pushed to 7-10', () => null, () => [7, 8, 9, 10].every((r) => heardStatus(r, 'EXPIRED')));
    const tooLate = await claim(drop.id, at(7));
    expect(tooLate.body).toMatchObject({ code: 'NOT_YOUR_TURN', reservation: { status: 'EXPIRED' } });
    for (const rank of [15, 16]) expect((await claim(drop.id, at(rank))).status).toBe(201);
    await checkInvariants(drop.id);

    // 13 and 14 let theirs expire too: 17 and 18 are next, then the slots are gone.
    await until('backfill of 17-18', () => null, () => heardStatus(17, 'GRANTED') && heardStatus(18, 'GRANTED'), 6000);
    for (const rank of [17, 18]) expect((await claim(drop.id, at(rank))).status).toBe(201);
    const full = await claim(drop.id, at(19));
    expect(full.body.code).toBe('SOLD_OUT');

    const final = await line(drop.id);
    expect(final.claimed).toBe(10);
    expect(final.counts).toEqual({ CLAIMED: 10, EXPIRED: 6, RELEASED: 2, GRANTED: 0, WAITING: 32 });
    const claimers = (await app.orm.em.fork().execute<{ user_id: string }[]>('select user_id from "claim" where drop_id = ?', [drop.id])).map((r) => r.user_id).sort();
    expect(claimers).toEqual([1, 2, 3, 4, 11, 12, 15, 16, 17, 18].map((r) => at(r).id).sort());
    for (let rank = 19; rank <= 50; rank++) expect(heardStatus(rank, 'GRANTED')).toBe(false);
    await checkInvariants(drop.id);
    // Places in line counted in one pass (a room's watchers) equal those counted one by one.
    const em = app.orm.em.fork();
    const together = await app.services.reservations.viewsFor(em, drop.id, users.map((u) => u.id));
    for (const user of users) {
      const alone = await app.services.reservations.mine(em, drop.id, user.id);
      expect({ ...together.get(user.id), serverNow: '' }).toEqual({ ...alone, serverNow: '' });
    }
    expect(together.get(at(30).id)).toMatchObject({ status: 'WAITING', waitingAhead: 11, openReservations: 0, remaining: 0 });

    // The event stream carries the line: each freed reservation passed to the next in rank order.
    const passed = await app.orm.em.fork().execute<{ payload: { from: { rank: number; reason: string }; to: { rank: number } } }[]>(
      `select payload from "outbox_event" where drop_id = ? and type = 'reservation.passed' order by id`,
      [drop.id],
    );
    expect(passed.map((p) => [p.payload.from.rank, p.payload.from.reason, p.payload.to.rank])).toEqual([
      [5, 'released', 11],
      [6, 'released', 12],
      [7, 'expired', 13],
      [8, 'expired', 14],
      [9, 'expired', 15],
      [10, 'expired', 16],
      [13, 'expired', 17],
      [14, 'expired', 18],
    ]);
    const types = await app.orm.em.fork().execute<{ type: string; n: number }[]>(
      `select type, count(*)::int as n from "outbox_event" where drop_id = ? and type like 'reservation.%' or (drop_id = ? and type = 'ranking.frozen') group by type`,
      [drop.id, drop.id],
    );
    expect(Object.fromEntries(types.map((t) => [t.type, t.n]))).toEqual({
      'ranking.frozen': 1,
      'reservation.granted': 18,
      'reservation.expired': 6,
      'reservation.released': 2,
      'reservation.passed': 8,
    });
  });

  it('a long line freezes in one go (more rows than one statement can carry) and grants every slot', async () => {
    const users = await createUsers(app, 6000);
    const drop = await priorityDrop(users, { totalSlots: 2500, holdSeconds: 60 });
    await openNow(drop.id);
    const view = await line(drop.id);
    expect(view.counts).toMatchObject({ GRANTED: 2500, WAITING: 3500 });
    expect(view.items.map((i) => i.rank)).toEqual(Array.from({ length: 6000 }, (_, i) => i + 1));
    // The ranking comes in pages: put them together, as the verifier does.
    const first = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as PriorityRankingView;
    const entries = [...first.entries];
    for (let offset = first.nextOffset; offset !== null; ) {
      const page = (await api('GET', `/api/drops/${drop.id}/ranking?offset=${offset}`)).body as PriorityRankingView;
      entries.push(...page.entries);
      offset = page.nextOffset;
    }
    expect(entries).toHaveLength(6000);
    expect(verifyRanking({ ...first, entries })).toEqual([]);
    await checkInvariants(drop.id);
  });

  it('when the line runs out, fewer claims than slots; a waiting user who leaves frees nothing', async () => {
    const users = await createUsers(app, 3);
    const drop = await priorityDrop(users, { totalSlots: 5, holdSeconds: 60 });
    await openNow(drop.id);
    const order = (await line(drop.id)).items.map((i) => users.find((u) => u.id === i.userId)!);
    expect((await claim(drop.id, order[0]!)).status).toBe(201);
    expect((await leave(drop.id, order[1]!)).status).toBe(200);
    const view = await line(drop.id);
    expect(view.counts).toMatchObject({ CLAIMED: 1, RELEASED: 1, GRANTED: 1, WAITING: 0 });
    expect((await api('GET', `/api/drops/${drop.id}`, { token: order[2]!.token })).body.me.reservation).toMatchObject({ status: 'GRANTED', rank: 3, remaining: 4 });
    await checkInvariants(drop.id);
  });

  it('raising totalSlots grants the next in line at once; lowering it below claimed + held is refused; positions are the frozen ranks', async () => {
    const users = await createUsers(app, 5);
    const drop = await priorityDrop(users, { totalSlots: 2, holdSeconds: 60 });
    await openNow(drop.id);
    const order = (await line(drop.id)).items.map((i) => users.find((u) => u.id === i.userId)!);
    expect((await claim(drop.id, order[0]!)).status).toBe(201);
    const lower = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { totalSlots: 1 } });
    expect(lower.body).toMatchObject({ code: 'SLOTS_BELOW_CLAIMED', claimed: 1, held: 1 });
    expect((await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { totalSlots: 4 } })).status).toBe(200);
    expect((await line(drop.id)).counts).toMatchObject({ CLAIMED: 1, GRANTED: 3, WAITING: 1 });
    for (let i = 0; i < 5; i++) {
      expect((await api('GET', `/api/drops/${drop.id}/position`, { token: order[i]!.token })).body.position).toBe(i + 1);
      expect((await api('GET', `/api/drops/${drop.id}`, { token: order[i]!.token })).body.me.waitlist.position).toBe(i + 1);
      const mine = (await api('GET', '/api/me/waitlists', { token: order[i]!.token })).body.items as { dropId: string; position: number }[];
      expect(mine.find((m) => m.dropId === drop.id)!.position).toBe(i + 1);
    }
    await checkInvariants(drop.id);
  });

  it('a waiting watcher hears their place in line move: "you are #4; 2 reservations ahead of you are still open"', async () => {
    const users = await createUsers(app, 4);
    const drop = await priorityDrop(users, { totalSlots: 2, holdSeconds: 60 });
    await openNow(drop.id);
    const order = (await line(drop.id)).items.map((i) => users.find((u) => u.id === i.userId)!);
    const socket = await connected(connect(app.baseUrl, { auth: { token: order[3]!.token } }));
    const snapshot = await request(socket, 'drop:watch', { dropId: drop.id });
    expect(snapshot.ok && snapshot.data.drop.me.reservation).toMatchObject({ rank: 4, status: 'WAITING', waitingAhead: 1, openReservations: 2, remaining: 2 });
    const moved = next<ReservationView>(socket, 'me:reservation', (r) => r.openReservations === 1 && r.remaining === 1, 5000);
    expect((await claim(drop.id, order[0]!)).status).toBe(201);
    expect(await moved).toMatchObject({ rank: 4, status: 'WAITING', waitingAhead: 1 });
    // The holder of rank 2 leaves: rank 3 is granted, and rank 4 is next in line.
    const next4 = next<ReservationView>(socket, 'me:reservation', (r) => r.waitingAhead === 0, 5000);
    await leave(drop.id, order[1]!);
    expect(await next4).toMatchObject({ rank: 4, status: 'WAITING', waitingAhead: 0, openReservations: 1 });
  });

  it('a pause stops the holds from running out; resuming gives them the paused time back', async () => {
    const users = await createUsers(app, 3);
    const drop = await priorityDrop(users, { totalSlots: 1, holdSeconds: 2 });
    const action = (name: string) => api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: name } });
    await openNow(drop.id);
    expect((await action('pause')).status).toBe(200);
    const held = (await line(drop.id)).items[0]!;
    // Proves an absence: the 2 s hold must not run out while paused, which only waiting past it shows.
    await sleep(2500);
    const paused = await line(drop.id);
    expect(paused.counts).toMatchObject({ GRANTED: 1, WAITING: 2, EXPIRED: 0 });
    const holder = users.find((u) => u.id === held.userId)!;
    expect((await claim(drop.id, holder)).body.code).toBe('WINDOW_PAUSED');
    expect((await action('resume')).status).toBe(200);
    const resumed = (await line(drop.id)).items[0]!;
    expect(Date.parse(resumed.expiresAt!) - Date.parse(held.expiresAt!)).toBeGreaterThanOrEqual(2400);
    expect((await claim(drop.id, holder)).status).toBe(201);
    await checkInvariants(drop.id);
  });

  it('admins see the line live and extend every open hold', async () => {
    const users = await createUsers(app, 4);
    const drop = await priorityDrop(users, { totalSlots: 2, holdSeconds: 5 });
    const adminSocket = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: admin.token } }));
    const events = collect<{ type: string; dropId: string }>(adminSocket, 'drop:reservations');
    await openNow(drop.id);
    await until('admin events', () => events, (e) => e.filter((x) => x.dropId === drop.id && x.type === 'reservation.granted').length === 2);
    expect(events.some((e) => e.type === 'ranking.frozen' && e.dropId === drop.id)).toBe(true);

    const listed = await api('GET', `/api/admin/drops/${drop.id}/reservations`, { token: admin.token });
    expect(listed.status).toBe(200);
    expect(listed.body.items[0]).toMatchObject({ rank: 1, status: 'GRANTED' });
    expect(listed.body.items[0].email).toContain('@');
    const before = Date.parse(listed.body.items[0].expiresAt);
    const holder = users.find((u) => u.id === listed.body.items[0].userId)!;
    const socket = await connected(connect(app.baseUrl, { auth: { token: holder.token } }));
    const pushed = next<ReservationView>(socket, 'me:reservation', (r) => Date.parse(r.expiresAt ?? '0') === before + 60_000);

    const extended = await api('POST', `/api/admin/drops/${drop.id}/holds`, { token: admin.token, body: { seconds: 60 } });
    expect(extended.body).toEqual({ extended: 2 });
    await pushed;
    const listedLive = await request(adminSocket, 'reservations:list', { dropId: drop.id });
    expect(listedLive).toMatchObject({ ok: true, data: { dropId: drop.id, counts: { GRANTED: 2, WAITING: 2 } } });
    const viaSocket = await request(adminSocket, 'holds:extend', { dropId: drop.id, seconds: 30 });
    expect(viaSocket).toEqual({ ok: true, data: { extended: 2 } });
    expect(Date.parse((await line(drop.id)).items[0]!.expiresAt!)).toBe(before + 90_000);
    expect((await api('GET', `/api/admin/drops/${drop.id}/reservations`, { token: users[0]!.token })).status).toBe(403);
    expect((await api('POST', `/api/admin/drops/${drop.id}/holds`, { token: admin.token, body: { seconds: 0 } })).body.code).toBe('VALIDATION_FAILED');
  });
});

describe('races: claim against expiry, leave against backfill', () => {
  /**
   * Every user hears their grant on their socket and acts at a random instant around the end of
   * their hold (from 400 ms before to 200 ms after), so claims, leaves, expiries and backfills
   * interleave for real.
   */
  async function raceDrops(options: { drops: number; users: number; slots: number; leaveShare: number }) {
    const runs = await Promise.all(
      Array.from({ length: options.drops }, async () => {
        const users = await createUsers(app, options.users);
        const drop = await priorityDrop(users, { totalSlots: options.slots, holdSeconds: 1 });
        return { drop, users };
      }),
    );
    const outcomes: { dropId: string; userId: string; action: 'claim' | 'leave'; ok: boolean; code?: string }[] = [];
    const acting: Promise<void>[] = [];
    const sockets: Socket[] = [];
    const afterOpening: (() => void)[] = [];
    for (const { drop, users } of runs) {
      for (const user of users) {
        const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
        sockets.push(socket);
        // Waiting users who leave race the backfill that would reach them; holders race their expiry.
        const leaves = Math.random() < options.leaveShare;
        const actAt = (grant?: ReservationView) => {
          const base = grant ? Date.parse(grant.expiresAt!) : Date.now() + 1000;
          return Math.max(0, base - Date.now() + Math.floor(Math.random() * 600) - 400);
        };
        const act = (grant?: ReservationView) =>
          acting.push(
            (async () => {
              // Acts at a random wall-clock instant around the hold's expiry: the race is the point.
              await sleep(actAt(grant));
              const action = leaves ? 'leave' : 'claim';
              const ack = await request(socket, action === 'leave' ? 'drop:leave' : 'drop:claim', { dropId: drop.id });
              outcomes.push({ dropId: drop.id, userId: user.id, action, ok: ack.ok, ...(ack.ok ? {} : { code: ack.code }) });
            })(),
          );
        let acted = false;
        socket.on('me:reservation', (r: ReservationView) => {
          if (r.dropId !== drop.id || r.status !== 'GRANTED' || acted) return;
          acted = true;
          act(r);
        });
        // Some waiting users leave around the first expiry without ever being granted (timed from the opening).
        if (leaves && Math.random() < 0.5) {
          acted = true;
          afterOpening.push(() => act());
        }
      }
    }
    await Promise.all(runs.map(({ drop }) => openNow(drop.id)));
    for (const start of afterOpening) start();
    // Sample the invariants while everything runs, then once the lines have settled.
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      for (const { drop } of runs) await checkInvariants(drop.id);
      const open = await Promise.all(runs.map(async ({ drop }) => (await line(drop.id)).counts.GRANTED));
      if (open.every((n) => n === 0)) break;
      // The pace of sampling the invariants while the race runs, not a wait for one state.
      await sleep(100);
    }
    await Promise.all(acting);
    for (const socket of sockets) socket.close();
    return { runs, outcomes };
  }

  it('claims racing their expiry: never more claims than slots, each claim by a holder, no slot lost', async () => {
    const { runs, outcomes } = await raceDrops({ drops: 8, users: 8, slots: 3, leaveShare: 0 });
    for (const { drop } of runs) {
      const state = await checkInvariants(drop.id);
      const view = await line(drop.id);
      const byUser = new Map(view.items.map((i) => [i.userId, i.status]));
      for (const o of outcomes.filter((x) => x.dropId === drop.id)) {
        if (o.ok) expect(byUser.get(o.userId)).toBe('CLAIMED');
        else {
          expect(o.code).toBe('NOT_YOUR_TURN');
          expect(byUser.get(o.userId)).toBe('EXPIRED');
        }
      }
      // Settled: every slot was claimed, or nobody is left waiting.
      expect(view.counts.GRANTED).toBe(0);
      expect(state.claimed === 3 || view.counts.WAITING === 0).toBe(true);
    }
    // Both sides of the race happened: some claims beat the expiry, some came too late.
    expect(outcomes.some((o) => o.ok)).toBe(true);
    expect(outcomes.some((o) => !o.ok)).toBe(true);
  });

  it('leaves racing backfills: a user who left never holds or claims, nobody holds two, no slot lost', async () => {
    const { runs, outcomes } = await raceDrops({ drops: 8, users: 8, slots: 3, leaveShare: 0.4 });
    for (const { drop } of runs) {
      const state = await checkInvariants(drop.id);
      const view = await line(drop.id);
      const byUser = new Map(view.items.map((i) => [i.userId, i.status]));
      for (const o of outcomes.filter((x) => x.dropId === drop.id)) {
        if (o.action === 'leave') expect(['RELEASED', 'CLAIMED', 'EXPIRED']).toContain(byUser.get(o.userId));
        if (o.action === 'leave' && byUser.get(o.userId) === 'RELEASED') {
          const claims = await app.orm.em.fork().count(ClaimSchema, { drop: drop.id, user: o.userId });
          expect(claims).toBe(0);
        }
      }
      expect(view.counts.GRANTED).toBe(0);
      expect(state.claimed === 3 || view.counts.WAITING === 0).toBe(true);
    }
    expect(outcomes.some((o) => o.action === 'leave' && o.ok)).toBe(true);
  });
});
