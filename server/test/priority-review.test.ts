import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PriorityRankingView } from '@dropspot/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { client, createDrop, createUser, createUsers, startTestApp, type TestApp } from './support/app.ts';

/** Issue 12, items 4, 5, 6 and 14: PRIORITY scores, holds, the per-drop formula and the ranking's pages. */

const apps: TestApp[] = [];
let app: TestApp;
let api: ReturnType<typeof client>;
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  app = await startTestApp();
  apps.push(app);
  api = client(app.baseUrl);
  admin = await createUser(app, 'ADMIN');
});
afterAll(async () => {
  for (const a of apps) await a.close();
});

type User = Awaited<ReturnType<typeof createUsers>>[number];

const join = (dropId: string, user: User, on = api) => on('POST', `/api/drops/${dropId}/join`, { token: user.token });
const leave = (dropId: string, user: User) => api('POST', `/api/drops/${dropId}/leave`, { token: user.token });
const claim = (dropId: string, user: User) => api('POST', `/api/drops/${dropId}/claim`, { token: user.token });
const windowAction = (dropId: string, action: string) => api('POST', `/api/admin/drops/${dropId}/window`, { token: admin.token, body: { action } });
const line = (dropId: string) => app.services.reservations.adminView(dropId);

const verifier = (...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/verify-ranking.ts'), ...args], { cwd: ROOT_DIR, maxBuffer: 64 << 20 }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout + error.stderr }),
  );

describe('a PRIORITY score cannot be re-rolled (issue 12 item 4)', () => {
  it('leaving and joining again restores the first join’s score, breakdown and join time; the rank never improves', async () => {
    const users = await createUsers(app, 6);
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', startInMs: 600_000, endInMs: 1200_000 });
    for (const u of users.slice(1)) expect((await join(drop.id, u)).status).toBe(201);
    const me = users[0]!;
    const first = (await join(drop.id, me)).body.entry;
    for (let round = 0; round < 8; round++) {
      expect((await leave(drop.id, me)).body).toEqual({ left: true });
      const again = await join(drop.id, me);
      expect(again.status).toBe(201);
      expect(again.body.entry).toMatchObject({ priorityScore: first.priorityScore, joinedAt: first.joinedAt, breakdown: first.breakdown });
      expect(again.body.entry.position).toBeGreaterThanOrEqual(first.position);
    }
  });

  it('only requests that change something count as rapid actions: no-op leaves, repeated joins and refused claims do not', async () => {
    const [user] = await createUsers(app, 1);
    const fcfs = await createDrop(app, {});
    const other = await createDrop(app, {});
    const priority = await createDrop(app, { allocationMode: 'PRIORITY', startInMs: 600_000, endInMs: 1200_000 });
    for (let i = 0; i < 4; i++) expect((await leave(fcfs.id, user!)).body).toEqual({ left: false });
    expect((await claim(other.id, user!)).body.code).toBe('NOT_ON_WAITLIST');
    expect((await join(fcfs.id, user!)).status).toBe(201); // the one action that changed something
    expect((await join(fcfs.id, user!)).status).toBe(200);
    const entry = (await join(priority.id, user!)).body.entry;
    expect(entry.breakdown.rapidActions).toBe(1);
  });
});

describe('holds run only while claims are possible (issue 12 item 5)', () => {
  it('no hold is granted during a pause; the one granted on resume gets its whole hold time, not the pause on top', async () => {
    const users = await createUsers(app, 3);
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', totalSlots: 1, holdSeconds: 60, startInMs: 600_000, endInMs: 1200_000 });
    for (const u of users) await join(drop.id, u);
    await windowAction(drop.id, 'open-now');
    const first = (await line(drop.id)).items[0]!;
    expect(first.status).toBe('GRANTED');
    expect((await windowAction(drop.id, 'pause')).status).toBe(200);
    expect((await leave(drop.id, users.find((u) => u.id === first.userId)!)).body).toEqual({ left: true });
    const paused = await line(drop.id);
    expect(paused.counts).toMatchObject({ GRANTED: 0, RELEASED: 1, WAITING: 2 });
    // The pause lasts a while (measured by the database clock, not slept through).
    await vi.waitFor(async () => {
      const [row] = await app.orm.em.fork().execute<{ s: number }[]>(`select extract(epoch from clock_timestamp() - paused_at)::float8 as s from "drop" where id = ?`, [drop.id]);
      expect(row!.s).toBeGreaterThan(1);
    }, { timeout: 5000, interval: 50 });
    expect((await windowAction(drop.id, 'resume')).status).toBe(200);
    const next = (await line(drop.id)).items.find((i) => i.status === 'GRANTED')!;
    expect(Date.parse(next.expiresAt!) - Date.parse(next.grantedAt!)).toBe(60_000);
  });

  it('a hold does not run out while the window is moved later; when it reopens the holder can still claim', async () => {
    const users = await createUsers(app, 2);
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', totalSlots: 1, holdSeconds: 1, startInMs: 600_000, endInMs: 1200_000 });
    for (const u of users) await join(drop.id, u);
    await windowAction(drop.id, 'open-now');
    const held = (await line(drop.id)).items[0]!;
    const holder = users.find((u) => u.id === held.userId)!;
    const later = { claimWindowStart: new Date(Date.now() + 3600_000).toISOString(), claimWindowEnd: new Date(Date.now() + 7200_000).toISOString() };
    expect((await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: later })).status).toBe(200);
    // Past the hold's original end, the line is brought up to date: the hold is still there.
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(Date.parse(held.expiresAt!) + 100), { timeout: 5000, interval: 50 });
    await app.services.reservations.tick(drop.id);
    expect((await line(drop.id)).counts).toMatchObject({ GRANTED: 1, EXPIRED: 0, WAITING: 1 });
    expect((await claim(drop.id, holder)).body.code).toBe('WINDOW_NOT_OPEN');
    expect((await windowAction(drop.id, 'open-now')).status).toBe(200);
    expect((await claim(drop.id, holder)).status).toBe(201);
  });
});

describe('a drop keeps the formula it was published with (issue 12 item 6)', () => {
  it('joined under one seed, frozen after a redeploy with another seed: the ranking still verifies', async () => {
    const before = await startTestApp({ PRIORITY_START_TIME: '202601010000', PRIORITY_REMOTE_URL: 'https://example.test/a.git' });
    apps.push(before);
    const beforeApi = client(before.baseUrl);
    const boss = await createUser(before, 'ADMIN');
    const start = new Date(Date.now() + 600_000).toISOString();
    const end = new Date(Date.now() + 1200_000).toISOString();
    const created = await beforeApi('POST', '/api/admin/drops', {
      token: boss.token,
      body: { title: 'Redeployed', totalSlots: 2, claimWindowStart: start, claimWindowEnd: end, allocationMode: 'PRIORITY', holdSeconds: 60 },
    });
    expect(created.status).toBe(201);
    const users = await createUsers(before, 8);
    for (const u of users) expect((await join(created.body.id, u, beforeApi)).status).toBe(201);
    const seedThen = ((await beforeApi('GET', '/api/priority')).body as { seed: string }).seed;
    await before.close();
    apps.splice(apps.indexOf(before), 1);

    const after = await startTestApp({ PRIORITY_START_TIME: '202612312359', PRIORITY_REMOTE_URL: 'https://example.test/b.git', PRIORITY_BASE: '500' });
    apps.push(after);
    const afterApi = client(after.baseUrl);
    expect(((await afterApi('GET', '/api/priority')).body as { seed: string }).seed).not.toBe(seedThen);
    expect((await afterApi('POST', `/api/admin/drops/${created.body.id}/window`, { token: boss.token, body: { action: 'open-now' } })).status).toBe(200);
    const ranking = (await afterApi('GET', `/api/drops/${created.body.id}/ranking`)).body as PriorityRankingView;
    expect(ranking.formula.seed).toBe(seedThen);
    const verified = await verifier(created.body.id, '--url', after.baseUrl);
    expect(verified.stdout).toContain('OK');
    expect(verified.code).toBe(0);
  });
});

describe('GET /api/drops/:id/ranking is paged, cached and rate limited (issue 12 item 14)', () => {
  it('serves pages of at most 500 entries; bad paging values are 400 VALIDATION_FAILED; the verifier and a reader follow the pages', async () => {
    const users = await createUsers(app, 620);
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', totalSlots: 3, startInMs: 600_000, endInMs: 1200_000 });
    await app.orm.em.fork().insertMany(
      WaitlistSchema,
      users.map((u, i) => {
        const breakdown = app.services.formula.score({ signupLatencyMs: i * 37, accountAgeDays: i % 4, rapidActions: i % 3 });
        return { id: randomUUID(), user: u.id, drop: drop.id, priorityScore: breakdown.score, scoreBreakdown: breakdown, joinedAt: new Date(Date.now() - 60_000 + i) };
      }),
    );
    await windowAction(drop.id, 'open-now');
    for (const bad of ['limit=0', 'limit=501', 'limit=abc', 'offset=-1', 'offset=1.5']) {
      const res = await api('GET', `/api/drops/${drop.id}/ranking?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code, bad).toBe('VALIDATION_FAILED');
    }
    const firstPage = (await api('GET', `/api/drops/${drop.id}/ranking`)).body as PriorityRankingView;
    expect(firstPage.entries.length).toBeLessThanOrEqual(500);
    expect(firstPage.total).toBe(620);
    const seen: number[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page = (await api('GET', `/api/drops/${drop.id}/ranking?offset=${offset}&limit=200`)).body as PriorityRankingView;
      seen.push(...page.entries.map((e) => e.rank));
      offset = page.nextOffset;
    }
    expect(seen).toEqual(Array.from({ length: 620 }, (_, i) => i + 1));
    const verified = await verifier(drop.id, '--url', app.baseUrl);
    expect(verified.stdout).toContain('620 entries');
    expect(verified.code).toBe(0);
  });

  it('a revealed page carries an ETag; If-None-Match answers 304 with no body', async () => {
    const users = await createUsers(app, 4);
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', totalSlots: 1, startInMs: 600_000, endInMs: 1200_000 });
    for (const u of users) await join(drop.id, u);
    await windowAction(drop.id, 'open-now');
    const first = await api('GET', `/api/drops/${drop.id}/ranking?limit=2`);
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await api('GET', `/api/drops/${drop.id}/ranking?limit=2`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.body).toBeUndefined();
    const otherPage = await api('GET', `/api/drops/${drop.id}/ranking?offset=2&limit=2`, { headers: { 'if-none-match': etag! } });
    expect(otherPage.status).toBe(200);
    expect(otherPage.headers.get('etag')).not.toBe(etag);
  });

  it('is rate limited per client: past the limit, 429 RATE_LIMITED', async () => {
    const limited = await startTestApp({ RATE_LIMIT_RANKING_PER_MINUTE: '3' });
    apps.push(limited);
    const drop = await createDrop(limited, { allocationMode: 'PRIORITY', startInMs: 600_000, endInMs: 1200_000 });
    const get = client(limited.baseUrl);
    for (let i = 0; i < 3; i++) expect((await get('GET', `/api/drops/${drop.id}/ranking`)).status).toBe(200);
    const refused = await get('GET', `/api/drops/${drop.id}/ranking`);
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('RATE_LIMITED');
  });
});
