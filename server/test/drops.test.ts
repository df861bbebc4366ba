import { beforeAll, describe, expect, it } from 'vitest';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { addToWaitlist, createDrop, createUser, useTestApp } from './support/app.ts';

const { app, api } = useTestApp();
let admin: Awaited<ReturnType<typeof createUser>>;
let user: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
  user = await createUser(app);
});

const HOUR = 3600_000;
const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const validDrop = () => ({
  title: 'Limited hoodie',
  description: 'Only a few',
  totalSlots: 5,
  claimWindowStart: iso(HOUR),
  claimWindowEnd: iso(2 * HOUR),
});

describe('GET /api/drops', () => {
  it('filters upcoming, live and ended, hides inactive drops, and paginates', async () => {
    const tag = `filter-${Date.now()}`;
    const upcoming = await createDrop(app, { title: `${tag} up`, startInMs: HOUR, endInMs: 2 * HOUR });
    const live = await createDrop(app, { title: `${tag} live` });
    const ended = await createDrop(app, { title: `${tag} ended`, startInMs: -2 * HOUR, endInMs: -HOUR });
    const hidden = await createDrop(app, { title: `${tag} hidden`, isActive: false });

    const ids = async (status: string) => {
      const res = await api('GET', `/api/drops?status=${status}&pageSize=100`);
      expect(res.status).toBe(200);
      expect(typeof res.body.serverNow).toBe('string');
      return res.body.items.map((d: { id: string }) => d.id);
    };
    const up = await ids('upcoming');
    const now = await ids('live');
    const done = await ids('ended');
    expect(up).toContain(upcoming.id);
    expect(now).toContain(live.id);
    expect(done).toContain(ended.id);
    for (const list of [up, now, done]) expect(list).not.toContain(hidden.id);
    expect(up).not.toContain(live.id);
    expect(now).not.toContain(ended.id);

    const page1 = await api('GET', '/api/drops?pageSize=2&page=1');
    const page2 = await api('GET', '/api/drops?pageSize=2&page=2');
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.total).toBeGreaterThanOrEqual(3);
    expect(page2.body.items[0].id).not.toBe(page1.body.items[0].id);
  });

  it('rejects a bad filter or page (400 with the issues)', async () => {
    const res = await api('GET', '/api/drops?status=soon&pageSize=1000');
    expect(res.status).toBe(400);
    expect(res.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['pageSize', 'status']);
  });
});

describe('GET /api/drops/:id', () => {
  it('shows remaining, waitlist count, window state and serverNow; a signed-in user also sees their entry and claim', async () => {
    const drop = await createDrop(app, { totalSlots: 4 });
    const other = await createUser(app);
    await addToWaitlist(app, drop.id, [other.id, user.id]);
    await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });

    const anon = await api('GET', `/api/drops/${drop.id}`);
    expect(anon.status).toBe(200);
    expect(anon.body).toMatchObject({ id: drop.id, totalSlots: 4, claimed: 1, remaining: 3, waitlistCount: 2 });
    expect(anon.body.window).toMatchObject({ state: 'live', paused: false });
    expect(Math.abs(Date.parse(anon.body.serverNow) - Date.now())).toBeLessThan(5000);
    expect(anon.body.me).toBeUndefined();

    const mine = await api('GET', `/api/drops/${drop.id}`, { token: user.token });
    expect(mine.body.me.waitlist).toMatchObject({ dropId: drop.id, position: 2 });
    expect(mine.body.me.claim.status).toBe('ISSUED');
    const stranger = await api('GET', `/api/drops/${drop.id}`, { token: (await createUser(app)).token });
    expect(stranger.body.me).toEqual({ waitlist: null, claim: null });
  });

  it('is 404 DROP_NOT_FOUND for unknown and inactive ids, 400 VALIDATION_FAILED for a malformed one', async () => {
    const hidden = await createDrop(app, { isActive: false });
    for (const id of ['00000000-0000-4000-8000-000000000000', hidden.id]) {
      const res = await api('GET', `/api/drops/${id}`);
      expect([res.status, res.body.code]).toEqual([404, 'DROP_NOT_FOUND']);
    }
    const malformed = await api('GET', '/api/drops/nope');
    expect([malformed.status, malformed.body.code, malformed.body.issues?.[0]?.path]).toEqual([400, 'VALIDATION_FAILED', 'dropId']);
  });
});

describe('admin drops', () => {
  it('creates, reads, updates and deletes a drop', async () => {
    const created = await api('POST', '/api/admin/drops', { token: admin.token, body: validDrop() });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ title: 'Limited hoodie', totalSlots: 5, remaining: 5, isActive: true });
    expect(created.body.window.state).toBe('upcoming');
    const id = created.body.id;

    expect((await api('GET', `/api/admin/drops/${id}`, { token: admin.token })).body.id).toBe(id);
    const listed = await api('GET', '/api/admin/drops?pageSize=100&status=upcoming', { token: admin.token });
    expect(listed.body.items.map((d: { id: string }) => d.id)).toContain(id);

    const patched = await api('PATCH', `/api/admin/drops/${id}`, { token: admin.token, body: { title: 'Renamed', totalSlots: 8, imageUrl: 'https://img.test/a.png' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Renamed', totalSlots: 8, remaining: 8, imageUrl: 'https://img.test/a.png' });

    expect((await api('DELETE', `/api/admin/drops/${id}`, { token: admin.token })).status).toBe(204);
    expect((await api('DELETE', `/api/admin/drops/${id}`, { token: admin.token })).body.code).toBe('DROP_NOT_FOUND');
    expect((await api('GET', `/api/drops/${id}`)).status).toBe(404);
  });

  it('shows inactive drops to admins only, and publishes a drop when it is activated', async () => {
    const created = await api('POST', '/api/admin/drops', { token: admin.token, body: { ...validDrop(), isActive: false } });
    expect(created.body.publishedAt).toBeNull();
    expect((await api('GET', `/api/drops/${created.body.id}`)).status).toBe(404);
    const activated = await api('PATCH', `/api/admin/drops/${created.body.id}`, { token: admin.token, body: { isActive: true } });
    expect(activated.body.publishedAt).not.toBeNull();
    expect((await api('GET', `/api/drops/${created.body.id}`)).status).toBe(200);
  });

  it.each([
    ['a window that ends before it starts', { claimWindowStart: iso(2 * HOUR), claimWindowEnd: iso(HOUR) }, 'claimWindowEnd'],
    ['zero slots', { totalSlots: 0 }, 'totalSlots'],
    ['fractional slots', { totalSlots: 1.5 }, 'totalSlots'],
    ['an impossible date', { claimWindowStart: '2026-02-30T10:00:00Z' }, 'claimWindowStart'],
    ['a date without a zone', { claimWindowStart: '2026-12-01T10:00:00' }, 'claimWindowStart'],
    ['an empty title', { title: '   ' }, 'title'],
    ['an unknown field', { allocation: 'x' }, ''],
    ['a non-http image', { imageUrl: 'javascript:alert(1)' }, 'imageUrl'],
  ])('refuses %s (400)', async (_name, change, path) => {
    const res = await api('POST', '/api/admin/drops', { token: admin.token, body: { ...validDrop(), ...change } });
    expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('refuses updates that break the window or go below the claimed slots', async () => {
    const drop = await createDrop(app, { totalSlots: 3 });
    await addToWaitlist(app, drop.id, [user.id]);
    await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    const below = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { totalSlots: 0 } });
    expect(below.body.code).toBe('VALIDATION_FAILED');
    const other = await createUser(app);
    await addToWaitlist(app, drop.id, [other.id]);
    await api('POST', `/api/drops/${drop.id}/claim`, { token: other.token });
    const tooFew = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { totalSlots: 1 } });
    expect([tooFew.status, tooFew.body.code, tooFew.body.claimed]).toEqual([409, 'SLOTS_BELOW_CLAIMED', 2]);
    const inverted = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { claimWindowEnd: iso(-2 * HOUR) } });
    expect([inverted.status, inverted.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const empty = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: {} });
    expect(empty.status).toBe(400);
  });

  it('deleting a drop cascades to its waitlist entries and claims', async () => {
    const drop = await createDrop(app);
    await addToWaitlist(app, drop.id, [user.id]);
    await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    const em = app.orm.em.fork();
    expect(await em.count(ClaimSchema, { drop: drop.id })).toBe(1);
    await api('DELETE', `/api/admin/drops/${drop.id}`, { token: admin.token });
    expect(await em.count(ClaimSchema, { drop: drop.id })).toBe(0);
    expect(await em.count(WaitlistSchema, { drop: drop.id })).toBe(0);
  });
});

describe('admin window actions', () => {
  const act = (id: string, body: object) => api('POST', `/api/admin/drops/${id}/window`, { token: admin.token, body });

  it('open-now opens an upcoming window and claims are accepted at once', async () => {
    const drop = await createDrop(app, { startInMs: HOUR, endInMs: 2 * HOUR });
    await addToWaitlist(app, drop.id, [user.id]);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).body.code).toBe('WINDOW_NOT_OPEN');
    const res = await act(drop.id, { action: 'open-now' });
    expect(res.status).toBe(200);
    expect(res.body.window.state).toBe('live');
    expect(Date.parse(res.body.claimWindowEnd)).toBe(drop.claimWindowEnd.getTime());
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
  });

  it('open-now with seconds reopens an ended window for that long', async () => {
    const drop = await createDrop(app, { startInMs: -2 * HOUR, endInMs: -HOUR });
    const res = await act(drop.id, { action: 'open-now', seconds: 120 });
    expect(res.body.window.state).toBe('live');
    expect(Date.parse(res.body.claimWindowEnd) - Date.now()).toBeGreaterThan(100_000);
    expect(Date.parse(res.body.claimWindowEnd) - Date.now()).toBeLessThanOrEqual(121_000);
  });

  it('close-now ends the window and claims are refused with WINDOW_CLOSED', async () => {
    const drop = await createDrop(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const res = await act(drop.id, { action: 'close-now' });
    expect(res.body.window.state).toBe('ended');
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).body.code).toBe('WINDOW_CLOSED');
    // Closing an upcoming window ends it without it ever opening, keeping start < end.
    const upcoming = await createDrop(app, { startInMs: HOUR, endInMs: 2 * HOUR });
    const closed = await act(upcoming.id, { action: 'close-now' });
    expect(closed.body.window.state).toBe('ended');
    expect(Date.parse(closed.body.claimWindowStart)).toBeLessThan(Date.parse(closed.body.claimWindowEnd));
  });

  it('extend adds seconds to the end and needs seconds', async () => {
    const drop = await createDrop(app);
    const res = await act(drop.id, { action: 'extend', seconds: 600 });
    expect(Date.parse(res.body.claimWindowEnd) - drop.claimWindowEnd.getTime()).toBe(600_000);
    const missing = await act(drop.id, { action: 'extend' });
    expect([missing.status, missing.body.issues[0].path]).toEqual([400, 'seconds']);
  });

  it('pause refuses claims with WINDOW_PAUSED until resume', async () => {
    const drop = await createDrop(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const paused = await act(drop.id, { action: 'pause' });
    expect(paused.body.window.paused).toBe(true);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).body.code).toBe('WINDOW_PAUSED');
    const resumed = await act(drop.id, { action: 'resume' });
    expect(resumed.body.window.paused).toBe(false);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    const ended = await createDrop(app, { startInMs: -2 * HOUR, endInMs: -HOUR });
    expect((await act(ended.id, { action: 'pause' })).body.code).toBe('WINDOW_CLOSED');
  });

  it('refuses unknown actions and unknown drops', async () => {
    const drop = await createDrop(app);
    expect((await act(drop.id, { action: 'explode' })).status).toBe(400);
    expect((await act(drop.id, { action: 'extend', seconds: -5 })).status).toBe(400);
    expect((await act('00000000-0000-4000-8000-000000000000', { action: 'pause' })).body.code).toBe('DROP_NOT_FOUND');
  });
});

describe('redeem', () => {
  it('marks a code used once; a second try is refused with the time of the first', async () => {
    const drop = await createDrop(app);
    const claimer = await createUser(app);
    await addToWaitlist(app, drop.id, [claimer.id]);
    const { code } = (await api('POST', `/api/drops/${drop.id}/claim`, { token: claimer.token })).body.claim;

    // People type codes in lower case and without dashes.
    const typed = code.toLowerCase().replace(/-/g, ' ');
    const first = await api('POST', `/api/admin/claims/${encodeURIComponent(typed)}/redeem`, { token: admin.token });
    expect(first.status).toBe(200);
    expect(first.body.claim).toMatchObject({ code, status: 'USED' });
    const second = await api('POST', `/api/admin/claims/${code}/redeem`, { token: admin.token });
    expect([second.status, second.body.code, second.body.usedAt]).toEqual([409, 'ALREADY_REDEEMED', first.body.claim.usedAt]);
    const row = await app.orm.em.fork().findOneOrFail(ClaimSchema, { code });
    expect(row.usedAt?.toISOString()).toBe(first.body.claim.usedAt);
  });

  it('is 404 CODE_NOT_FOUND for unknown and malformed codes', async () => {
    for (const code of ['AAAA-BBBB-CCCC', 'nonsense', 'O0O0-1111-IIII']) {
      const res = await api('POST', `/api/admin/claims/${code}/redeem`, { token: admin.token });
      expect([res.status, res.body.code]).toEqual([404, 'CODE_NOT_FOUND']);
    }
  });
});
