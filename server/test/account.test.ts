import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { AuditEntrySchema } from '../src/modules/audit/audit.entity.ts';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { DropSchema } from '../src/modules/drops/drop.entity.ts';
import { addToWaitlist, createDrop, createUser, createUsers, useTestApp } from './support/app.ts';
import { connect, connected, next, request, sleep } from './support/sockets.ts';

const { app, api } = useTestApp();

/** Until a statement of this file's database waits for a lock that another connection holds. */
const waitingForALock = () =>
  vi.waitFor(async () => {
    const [row] = await app.orm.em.fork().execute<{ n: number }[]>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    );
    expect(row!.n).toBeGreaterThan(0);
  });

/** A user signed in through the real login route, so they have a refresh token and a user agent. */
async function signedIn() {
  const user = await createUser(app);
  const login = await api('POST', '/api/auth/login', { body: { email: user.email, password: user.password }, headers: { 'user-agent': 'account-test/1.0' } });
  expect(login.status).toBe(200);
  return { ...user, token: login.body.accessToken as string, refreshToken: login.body.refreshToken as string };
}

/** For every drop: the counter equals the claims (the invariant deletion must keep). */
async function countersMatchClaims(dropIds: string[]) {
  const rows = await app.orm.em.fork().execute<{ id: string; claimed: number; actual: number }[]>(
    `select d.id, d.claimed, (select count(*)::int from "claim" c where c.drop_id = d.id) as actual from "drop" d where d.id in (?)`,
    [dropIds],
  );
  expect(rows).toHaveLength(dropIds.length);
  for (const row of rows) expect(row.claimed, `drop ${row.id}`).toBe(row.actual);
  return new Map(rows.map((r) => [r.id, r.claimed]));
}

/**
 * The backend that a lock held by `pid` keeps waiting, once there is one (pg_locks is live, not a
 * per-transaction snapshot, so `holder` may be inside its own transaction).
 */
async function waitingOn(holder: pg.Client, pid: number): Promise<number> {
  return vi.waitFor(
    async () => {
      const { rows } = await holder.query<{ pid: number }>('select distinct pid from pg_locks where not granted and $1 = any(pg_blocking_pids(pid))', [pid]);
      expect(rows).toHaveLength(1);
      return rows[0]!.pid;
    },
    { timeout: 10_000, interval: 20 },
  );
}

/** A separate connection that opens a transaction and reports its backend's pid. */
async function lockHolder() {
  const holder = new pg.Client({ connectionString: app.config.databaseUrl });
  await holder.connect();
  await holder.query('begin');
  const { rows } = await holder.query<{ pid: number }>('select pg_backend_pid() as pid');
  return { holder, pid: rows[0]!.pid };
}

describe('GET /api/me/export', () => {
  it('returns the profile, waitlists with scores, claims with codes, sessions metadata and request counts, nobody else\'s', async () => {
    const user = await signedIn();
    const other = await createUser(app);
    const drops = [await createDrop(app, { title: 'Export A' }), await createDrop(app, { title: 'Export B' })];
    for (const drop of drops) {
      expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
      await addToWaitlist(app, drop.id, [other.id]);
      await api('POST', `/api/drops/${drop.id}/claim`, { token: other.token });
    }
    const claim = (await api('POST', `/api/drops/${drops[0]!.id}/claim`, { token: user.token })).body.claim;
    expect((await api('PATCH', '/api/me/notifications', { token: user.token, body: { preferences: { 'window-opened': { email: false } } } })).status).toBe(200);
    const endpoint = 'https://fcm.googleapis.com/fcm/send/export-test';
    expect((await api('POST', '/api/me/push-subscriptions', { token: user.token, body: { endpoint, keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) } } })).status).toBe(201);

    const res = await api('GET', '/api/me/export', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename=dropspot-account-${user.id}.json`);
    const data = res.body;
    expect(data.user).toEqual({ id: user.id, email: user.email, role: 'USER', createdAt: expect.any(String), emailVerified: false });
    expect(data.waitlists.map((w: { dropTitle: string }) => w.dropTitle)).toEqual(['Export A', 'Export B']);
    expect(data.waitlists[0]).toMatchObject({ dropId: drops[0]!.id, priorityScore: expect.any(Number), breakdown: { score: expect.any(Number) } });
    expect(data.claims).toEqual([claim]);
    const current = data.sessions.find((s: { current: boolean }) => s.current);
    expect(current).toMatchObject({ userAgent: 'account-test/1.0', revokedAt: null });
    expect(data.actions.map((a: { kind: string }) => a.kind).sort()).toEqual(['claim', 'join', 'join']);
    expect(data).toMatchObject({ apiTokens: [], adminActions: [] });
    expect(data.notifications).toMatchObject({ preferences: [{ kind: 'window-opened', channel: 'email', enabled: false }], devices: [{ endpoint }] });
    // No secrets and nobody else's rows.
    const text = JSON.stringify(data);
    expect(text).not.toMatch(/argon2|passwordHash|refreshTokenHash/);
    expect(text).not.toContain(user.refreshToken);
    expect(text).not.toContain(other.id);
  });

  it('includes an admin\'s API tokens and audit entries, and needs a signed-in user', async () => {
    const admin = await createUser(app, 'ADMIN');
    const drop = await createDrop(app);
    await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'pause' } });
    await api('POST', '/api/admin/api-tokens', { token: admin.token, body: { name: 'board' } });
    const data = (await api('GET', '/api/me/export', { token: admin.token })).body;
    expect(data.apiTokens).toMatchObject([{ name: 'board', revokedAt: null }]);
    expect(data.apiTokens[0].token).toBeUndefined();
    expect(data.adminActions.map((a: { action: string }) => a.action)).toEqual(['window.pause', 'api-token.create']);
    expect((await api('GET', '/api/me/export')).status).toBe(401);
  });
});

describe('DELETE /api/me', () => {
  it('needs the current password; a wrong or missing one deletes nothing', async () => {
    const user = await signedIn();
    const wrong = await api('DELETE', '/api/me', { token: user.token, body: { currentPassword: 'not it at all' } });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'INVALID_CREDENTIALS']);
    const missing = await api('DELETE', '/api/me', { token: user.token });
    expect([missing.status, missing.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await api('DELETE', '/api/me', { body: { currentPassword: user.password } })).status).toBe(401);
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(200);
  });

  it('deletes a user with claims in several drops: cascades, gives the slots back, tells watchers, closes sockets', async () => {
    const user = await signedIn();
    const others = await createUsers(app, 3);
    const drops = [await createDrop(app, { totalSlots: 5 }), await createDrop(app, { totalSlots: 5 }), await createDrop(app, { totalSlots: 1 })];
    const waitOnly = await createDrop(app);
    for (const drop of drops) {
      await addToWaitlist(app, drop.id, [user.id, ...others.map((o) => o.id)]);
      expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    }
    // Another user's claim stays where it is.
    await api('POST', `/api/drops/${drops[0]!.id}/claim`, { token: others[0]!.token });
    await addToWaitlist(app, waitOnly.id, [user.id]);
    const soldOut = await api('POST', `/api/drops/${drops[2]!.id}/claim`, { token: others[1]!.token });
    expect(soldOut.body.code).toBe('SOLD_OUT');
    const admin = await createUser(app, 'ADMIN');
    await api('POST', `/api/admin/drops/${drops[0]!.id}/window`, { token: admin.token, body: { action: 'extend', seconds: 60 } });

    const watcher = await connected(connect(app.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drops[0]!.id });
    const own = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    await request(own, 'drop:watch', { dropId: drops[1]!.id });
    const stream = await connected(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token } }));
    const released: { type: string; dropId: string; payload: Record<string, unknown> }[] = [];
    stream.on('event', (e: { type: string; dropId: string; payload: Record<string, unknown> }) => {
      if (e.type === 'claim.released' && drops.some((d) => d.id === e.dropId)) released.push(e);
    });
    const counts = next(watcher, 'drop:counts', (c: { dropId: string; claimed: number }) => c.dropId === drops[0]!.id && c.claimed === 1);
    const expired = next(own, 'session:expired');
    const disconnected = new Promise((resolve) => own.once('disconnect', resolve));

    const res = await api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } });
    expect(res.status).toBe(204);

    // The counters dropped by exactly the user's claims and still equal the claims.
    const claimed = await countersMatchClaims([...drops, waitOnly].map((d) => d.id));
    expect(drops.map((d) => claimed.get(d.id))).toEqual([1, 0, 0]);
    // Everything of theirs went with them.
    const [rows] = await app.orm.em.fork().execute<Record<string, number>[]>(
      `select (select count(*)::int from "user" where id = ?) u, (select count(*)::int from "claim" where user_id = ?) c,
              (select count(*)::int from "waitlist" where user_id = ?) w, (select count(*)::int from "session" where user_id = ?) s,
              (select count(*)::int from "user_action" where user_id = ?) a`,
      [user.id, user.id, user.id, user.id, user.id],
    );
    expect(rows).toEqual({ u: 0, c: 0, w: 0, s: 0, a: 0 });
    // Signed out everywhere at once: access and refresh tokens are dead, the socket was told and closed.
    expect((await api('GET', '/api/auth/me', { token: user.token })).status).toBe(401);
    expect((await api('POST', '/api/auth/refresh', { body: { refreshToken: user.refreshToken } })).status).toBe(401);
    expect(await expired).toMatchObject({ code: 'SESSION_REVOKED' });
    await disconnected;
    // Watchers see the new numbers; the stream says which slots came back (without who held them).
    expect(await counts).toMatchObject({ claimed: 1, remaining: 4 });
    await vi.waitFor(() => expect(released.map((e) => e.dropId).sort()).toEqual(drops.map((d) => d.id).sort()));
    expect(released.find((e) => e.dropId === drops[2]!.id)?.payload).toMatchObject({ claimed: 0, remaining: 1, reason: 'account-deleted' });
    expect(JSON.stringify(released)).not.toContain(user.id);
    // The freed slot can be claimed again.
    expect((await api('POST', `/api/drops/${drops[2]!.id}/claim`, { token: others[1]!.token })).status).toBe(201);
    // The admin audit log is not the user's data: it stays.
    expect(await app.orm.em.fork().count(AuditEntrySchema, { dropId: drops[0]!.id })).toBe(1);
  });

  it('keeps every counter equal to its claims when accounts are deleted in the middle of claim storms', async () => {
    const drops = [await createDrop(app, { totalSlots: 40 }), await createDrop(app, { totalSlots: 40 }), await createDrop(app, { totalSlots: 40 })];
    const leaving = await Promise.all(Array.from({ length: 4 }, () => signedIn()));
    const stormers = await createUsers(app, 60);
    for (const drop of drops) await addToWaitlist(app, drop.id, [...leaving.map((u) => u.id), ...stormers.map((u) => u.id)]);
    // The leavers hold claims in every drop before the storm.
    for (const user of leaving) for (const drop of drops) await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });

    const storm = stormers.flatMap((u) => drops.map((d) => api('POST', `/api/drops/${d.id}/claim`, { token: u.token })));
    const deletions = leaving.map((u) => api('DELETE', '/api/me', { token: u.token, body: { currentPassword: u.password } }));
    const [stormResults, deleted] = await Promise.all([Promise.all(storm), Promise.all(deletions)]);
    expect(deleted.map((r) => r.status)).toEqual([204, 204, 204, 204]);
    expect(stormResults.every((r) => r.status === 201 || r.body.code === 'SOLD_OUT')).toBe(true);
    const claimed = await countersMatchClaims(drops.map((d) => d.id));
    for (const [i, drop] of drops.entries()) {
      // Slots freed mid-storm may go to stormers or stay free: the counter is what was granted.
      const granted = stormResults.filter((r, n) => n % drops.length === i && r.status === 201).length;
      expect(claimed.get(drop.id)).toBe(granted);
      expect(granted).toBeGreaterThanOrEqual(36);
      expect(await app.orm.em.fork().count(ClaimSchema, { drop: drop.id, user: { $in: leaving.map((u) => u.id) } })).toBe(0);
    }
  });

  it('a claim batch that meets an account being deleted still answers everyone else', async () => {
    const drop = await createDrop(app, { totalSlots: 10 });
    const [doomed, ...rest] = await createUsers(app, 6);
    await addToWaitlist(app, drop.id, [doomed!.id, ...rest.map((u) => u.id)]);
    // Another connection deletes the account and holds the transaction open while the batch arrives.
    const pgClient = new pg.Client({ connectionString: app.config.databaseUrl });
    await pgClient.connect();
    try {
      await pgClient.query('begin');
      await pgClient.query('delete from "user" where id = $1', [doomed!.id]);
      const results = [doomed!, ...rest].map((u) => app.services.claims.claim(u.id, drop.id).then((r) => r.created, (e: { code?: string }) => e.code ?? String(e)));
      await waitingForALock();
      await pgClient.query('commit');
      const outcomes = await Promise.all(results);
      expect(outcomes.slice(1)).toEqual([true, true, true, true, true]);
      expect(['NOT_ON_WAITLIST', 'UNAUTHENTICATED']).toContain(outcomes[0]);
    } finally {
      await pgClient.end();
    }
    const row = await app.orm.em.fork().findOneOrFail(DropSchema, { id: drop.id });
    expect(row.claimed).toBe(5);
    await countersMatchClaims([drop.id]);
  });
});

describe('DELETE /api/me and the event history', () => {
  it('scrubs the account\'s id, email and codes from every stored event in the deletion, keeping the rows so ids stay gap-free', async () => {
    const user = await signedIn();
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const [claimed, redeemed, left] = [await createDrop(app), await createDrop(app), await createDrop(app)];
    for (const drop of [claimed, redeemed, left]) expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    for (const drop of [claimed, redeemed]) expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    expect((await api('POST', `/api/drops/${left.id}/leave`, { token: user.token })).body).toEqual({ left: true });
    const claims: { dropId: string; code: string }[] = (await api('GET', '/api/me/claims', { token: user.token })).body.items;
    const codes = claims.map((c) => c.code);
    expect(codes).toHaveLength(2);
    const redeemedCode = claims.find((c) => c.dropId === redeemed.id)!.code;
    expect((await api('POST', `/api/admin/claims/${redeemedCode}/redeem`, { token: admin!.token })).status).toBe(200);

    const db = app.orm.em.fork();
    const traces = [user.id, user.email, ...codes];
    const mentioning = async () =>
      (
        await db.execute<{ id: number }[]>(`select id from "outbox_event" where user_id = ? ${traces.map(() => 'or strpos(payload::text, ?) > 0').join(' ')}`, [
          user.id,
          ...traces,
        ])
      ).length;
    expect(await mentioning()).toBeGreaterThanOrEqual(7); // 3 joins, 2 claims, a redeem, a leave
    const [before] = await db.execute<{ n: number }[]>(`select count(*)::int as n from "outbox_event"`);

    expect((await api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } })).status).toBe(204);

    expect(await mentioning()).toBe(0);
    // The rows stay (with their types and drops): the stream's ids have no holes.
    const [after] = await db.execute<{ n: number }[]>(`select count(*)::int as n from "outbox_event"`);
    expect(after!.n).toBeGreaterThan(before!.n);
    const kinds = await db.execute<{ type: string }[]>(`select type from "outbox_event" where drop_id = ? order by id`, [claimed.id]);
    expect(kinds.map((k) => k.type)).toEqual(['waitlist.joined', 'claim.issued', 'claim.released', 'waitlist.left']);
    await vi.waitFor(async () => {
      const seqs = await db.execute<{ seq: string | null }[]>(`select seq from "outbox_event" order by seq nulls last`);
      expect(seqs.map((row) => Number(row.seq))).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    });
  });
});

describe('DELETE /api/me racing an admin', () => {
  it('a drop deleted while the account is being deleted: both succeed, the other counters stay exact', async () => {
    const user = await signedIn();
    const [kept, doomed] = [await createDrop(app), await createDrop(app)];
    for (const drop of [kept, doomed]) {
      await addToWaitlist(app, drop.id, [user.id]);
      expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    }
    // Another connection deletes one of the drops and holds the transaction open meanwhile.
    const pgClient = new pg.Client({ connectionString: app.config.databaseUrl });
    await pgClient.connect();
    try {
      await pgClient.query('begin');
      await pgClient.query('delete from "drop" where id = $1', [doomed.id]);
      const deletion = api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } });
      await waitingForALock();
      await pgClient.query('commit');
      expect((await deletion).status).toBe(204);
    } finally {
      await pgClient.end();
    }
    const claimed = await countersMatchClaims([kept.id]);
    expect(claimed.get(kept.id)).toBe(0);
  });
});

describe('DELETE /api/me racing a PRIORITY claim group', () => {
  it('a group that holds the drop and then needs the user, against a deletion: both succeed, no deadlock, no 500', async () => {
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const user = await signedIn();
    const drop = await createDrop(app, { allocationMode: 'PRIORITY', totalSlots: 2, startInMs: 60_000 });
    await addToWaitlist(app, drop.id, [user.id]);
    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin!.token, body: { action: 'open-now' } })).status).toBe(200);
    // The claim group locks the drop, then waits (this connection holds the line's table) before
    // it writes the claim, which needs the user's row; meanwhile the deletion starts.
    const { holder, pid } = await lockHolder();
    try {
      await holder.query('lock table "reservation" in share mode');
      const claim = api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
      const groupPid = await waitingOn(holder, pid);
      const deletion = api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } });
      await waitingOn(holder, groupPid);
      await holder.query('commit');
      const [claimed, deleted] = await Promise.all([claim, deletion]);
      expect(claimed.status, JSON.stringify(claimed.body)).toBe(201);
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    } finally {
      await holder.end();
    }
    // The deleted user's slot went back: the counter is the claims, and none is theirs.
    expect((await countersMatchClaims([drop.id])).get(drop.id)).toBe(0);
  });
});

describe('DELETE /api/me by admins', () => {
  it('an admin may leave while another admin remains; of two leaving at once, one stays', async () => {
    // Last in the file: it demotes the admins earlier tests made, so only this test's two count.
    await app.orm.em.fork().execute(`update "user" set role = 'USER' where role = 'ADMIN'`);
    const [first, second] = await Promise.all([signedIn(), signedIn()]);
    await app.orm.em.fork().execute(`update "user" set role = 'ADMIN' where id in (?)`, [[first.id, second.id]]);
    await sleep(1100); // sessions remember a role for a second, and nothing outside shows when it is forgotten
    const results = await Promise.all(
      [first, second].map((u) => api('DELETE', '/api/me', { token: u.token, body: { currentPassword: u.password } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([204, 403]);
    expect(results.find((r) => r.status === 403)!.body.code).toBe('FORBIDDEN');
    const [row] = await app.orm.em.fork().execute<{ n: number }[]>(`select count(*)::int as n from "user" where role = 'ADMIN'`);
    expect(row!.n).toBe(1);
  });
});

describe('DELETE /api/me with a redeemed code', () => {
  it('keeps a redeemed claim (its item was handed out) under an anonymous placeholder, and gives back only unredeemed slots', async () => {
    const user = await signedIn();
    const [admin] = await createUsers(app, 1, 'ADMIN');
    const redeemedDrop = await createDrop(app, { totalSlots: 1 });
    const issuedDrop = await createDrop(app, { totalSlots: 1 });
    for (const drop of [redeemedDrop, issuedDrop]) {
      expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
      expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    }
    const [code] = (await api('GET', '/api/me/claims', { token: user.token })).body.items.filter((c: { dropId: string }) => c.dropId === redeemedDrop.id).map((c: { code: string }) => c.code);
    expect((await api('POST', `/api/admin/claims/${code}/redeem`, { token: admin!.token })).status).toBe(200);

    expect((await api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } })).status).toBe(204);

    const claimed = await countersMatchClaims([redeemedDrop.id, issuedDrop.id]);
    expect(claimed.get(redeemedDrop.id)).toBe(1); // still used: nobody else can claim the handed-out item
    expect(claimed.get(issuedDrop.id)).toBe(0); // the unredeemed code is gone and its slot is free again
    const [kept] = await app.orm.em.fork().execute<{ email: string; status: string }[]>(
      `select u.email, c.status from "claim" c join "user" u on u.id = c.user_id where c.drop_id = ?`,
      [redeemedDrop.id],
    );
    expect(kept).toMatchObject({ status: 'USED', email: expect.stringMatching(/^deleted-[0-9a-f-]+@deleted\.invalid$/) });
    expect(kept!.email).not.toContain(user.email.split('@')[0]!);
    // The redeemed code is still refused a second time.
    expect((await api('POST', `/api/admin/claims/${code}/redeem`, { token: admin!.token })).body.code).toBe('ALREADY_REDEEMED');
  });

  it('a redeem that commits while the deletion is under way: the claim stays redeemed and its slot is never sold again', async () => {
    const user = await signedIn();
    const [admin, other] = await createUsers(app, 2, 'ADMIN');
    const drop = await createDrop(app, { totalSlots: 1 });
    await addToWaitlist(app, drop.id, [user.id, other!.id]);
    const claim = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(claim.status).toBe(201);
    const code = claim.body.claim.code as string;
    // The redeem marks the claim USED, then waits to write its audit entry (this connection holds
    // the table) while the deletion starts: it commits in the middle of the deletion's transaction.
    const { holder, pid } = await lockHolder();
    try {
      await holder.query('lock table "audit_log" in share mode');
      const redeem = api('POST', `/api/admin/claims/${code}/redeem`, { token: admin!.token });
      const redeemPid = await waitingOn(holder, pid);
      const deletion = api('DELETE', '/api/me', { token: user.token, body: { currentPassword: user.password } });
      await waitingOn(holder, redeemPid);
      await holder.query('commit');
      expect((await redeem).status).toBe(200);
      expect((await deletion).status).toBe(204);
    } finally {
      await holder.end();
    }
    const claimed = await countersMatchClaims([drop.id]);
    expect(claimed.get(drop.id)).toBe(1);
    const [kept] = await app.orm.em.fork().execute<{ status: string }[]>(`select status from "claim" where code = ?`, [code]);
    expect(kept).toEqual({ status: 'USED' });
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: other!.token })).body.code).toBe('SOLD_OUT');
  });
});
