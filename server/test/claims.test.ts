import { createHash } from 'node:crypto';
import pg from 'pg';
import { request as httpRequest } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { SYSTEM_ACTOR } from '../src/modules/audit/audit.ts';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { IdempotencyKeySchema } from '../src/modules/idempotency/idempotency.entity.ts';
import { DropSchema } from '../src/modules/drops/drop.entity.ts';
import { addToWaitlist, client, createDrop, createUser, createUsers, startTestApp, useTestApp } from './support/app.ts';
import { connect, connected, next, request } from './support/sockets.ts';

const CODE_FORMAT = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$/;

const { app, api } = useTestApp();

async function waitlistedUser(dropId: string) {
  const user = await createUser(app);
  await addToWaitlist(app, dropId, [user.id]);
  return user;
}

async function dropRow(id: string) {
  return app.orm.em.fork().findOneOrFail(DropSchema, { id });
}

describe('POST /api/drops/:id/claim', () => {
  it('issues a readable unique code, counts it, and shows it under /api/me/claims', async () => {
    const drop = await createDrop(app, { totalSlots: 3 });
    const user = await waitlistedUser(drop.id);
    const res = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(res.status).toBe(201);
    expect(res.body.created).toBe(true);
    expect(res.body.claim).toMatchObject({ dropId: drop.id, status: 'ISSUED', usedAt: null });
    expect(res.body.claim.code).toMatch(CODE_FORMAT);
    expect((await dropRow(drop.id)).claimed).toBe(1);

    const detail = await api('GET', `/api/drops/${drop.id}`, { token: user.token });
    expect(detail.body.remaining).toBe(2);
    expect(detail.body.me.claim.code).toBe(res.body.claim.code);

    const mine = await api('GET', '/api/me/claims', { token: user.token });
    expect(mine.status).toBe(200);
    expect(mine.body.items).toEqual([res.body.claim]);
  });

  it('returns the same claim when claiming again (200), never a second code', async () => {
    const drop = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    const first = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    const second = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.created).toBe(false);
    expect(second.body.claim).toEqual(first.body.claim);
    expect((await dropRow(drop.id)).claimed).toBe(1);
  });

  it.each([
    ['WINDOW_NOT_OPEN', { startInMs: 60_000, endInMs: 120_000 }],
    ['WINDOW_CLOSED', { startInMs: -120_000, endInMs: -60_000 }],
  ] as const)('refuses with %s outside the window', async (code, window) => {
    const drop = await createDrop(app, window);
    const user = await waitlistedUser(drop.id);
    const res = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe(code);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect((await dropRow(drop.id)).claimed).toBe(0);
  });

  it('refuses NOT_ON_WAITLIST, SOLD_OUT, WINDOW_PAUSED, DROP_NOT_FOUND and UNAUTHENTICATED', async () => {
    const drop = await createDrop(app, { totalSlots: 1 });
    const outsider = await createUser(app);
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: outsider.token })).body.code).toBe('NOT_ON_WAITLIST');

    const [a, b] = [await waitlistedUser(drop.id), await waitlistedUser(drop.id)];
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: a.token })).status).toBe(201);
    const soldOut = await api('POST', `/api/drops/${drop.id}/claim`, { token: b.token });
    expect([soldOut.status, soldOut.body.code]).toEqual([409, 'SOLD_OUT']);

    const paused = await createDrop(app);
    await app.orm.em.fork().nativeUpdate(DropSchema, { id: paused.id }, { pausedAt: new Date() });
    const c = await waitlistedUser(paused.id);
    expect((await api('POST', `/api/drops/${paused.id}/claim`, { token: c.token })).body.code).toBe('WINDOW_PAUSED');

    const hidden = await createDrop(app, { isActive: false });
    const d = await waitlistedUser(hidden.id);
    expect((await api('POST', `/api/drops/${hidden.id}/claim`, { token: d.token })).status).toBe(404);
    expect((await api('POST', `/api/drops/00000000-0000-4000-8000-000000000000/claim`, { token: d.token })).body.code).toBe('DROP_NOT_FOUND');
    expect((await api('POST', `/api/drops/not-a-uuid/claim`, { token: d.token })).body.code).toBe('VALIDATION_FAILED');
    expect((await api('POST', `/api/drops/${drop.id}/claim`)).body.code).toBe('UNAUTHENTICATED');
  });

  it('500 waitlisted users claiming 50 slots at once: exactly 50 claims, 450 SOLD_OUT, distinct codes', async () => {
    const drop = await createDrop(app, { totalSlots: 50 });
    const users = await createUsers(app, 500);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));

    const results = await Promise.all(users.map((u) => api('POST', `/api/drops/${drop.id}/claim`, { token: u.token })));
    const byStatus = new Map<string, number>();
    for (const r of results) {
      const key = r.status === 201 ? 'created' : String(r.body.code);
      byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    }
    expect(Object.fromEntries(byStatus)).toEqual({ created: 50, SOLD_OUT: 450 });

    const claims = await app.orm.em.fork().find(ClaimSchema, { drop: drop.id });
    expect(claims).toHaveLength(50);
    expect(new Set(claims.map((c) => c.code)).size).toBe(50);
    expect(new Set(claims.map((c) => c.user.id)).size).toBe(50);
    expect((await dropRow(drop.id)).claimed).toBe(50);
    const confirmed = results.filter((r) => r.status === 201).map((r) => r.body.claim.code).sort();
    expect(confirmed).toEqual(claims.map((c) => c.code).sort());
  });

  it('one user sending 20 parallel claims gets exactly one claim, the same code in every response', async () => {
    const drop = await createDrop(app, { totalSlots: 5 });
    const user = await waitlistedUser(drop.id);
    const results = await Promise.all(Array.from({ length: 20 }, () => api('POST', `/api/drops/${drop.id}/claim`, { token: user.token })));
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.claim.code)).size).toBe(1);
    expect(await app.orm.em.fork().count(ClaimSchema, { drop: drop.id })).toBe(1);
    expect((await dropRow(drop.id)).claimed).toBe(1);
  });
});

describe('window edges', () => {
  it('a claim queued behind the drop row past the window end is refused, judged when it gets the row', async () => {
    const drop = await createDrop(app, { endInMs: 700 });
    const user = await waitlistedUser(drop.id);
    const holder = new pg.Client({ connectionString: app.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from "drop" where id = $1 for update', [drop.id]);
      const pending = api('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await holder.query('commit');
      const res = await pending;
      expect([res.status, res.body.code]).toEqual([409, 'WINDOW_CLOSED']);
      expect((await dropRow(drop.id)).claimed).toBe(0);
    } finally {
      await holder.end();
    }
  });
});

describe('window edges under a storm', () => {
  it('an admin closing the window mid-storm: no claim is accepted at or after the stored end', async () => {
    const drop = await createDrop(app, { totalSlots: 2000 });
    const users = await createUsers(app, 600);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    const storm = Promise.all(users.map((u) => app.services.claims.claim(u.id, drop.id).then(() => 'ok', (e: { code: string }) => e.code)));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await app.services.drops.windowAction(drop.id, { action: 'close-now' }, SYSTEM_ACTOR);
    const outcomes = await storm;
    const [row] = await app.orm.em.fork().execute<{ late: number; claims: number; claimed: number }[]>(
      `select count(*) filter (where c.issued_at >= d.claim_window_end)::int late, count(c.id)::int claims, d.claimed
         from "drop" d left join "claim" c on c.drop_id = d.id where d.id = ? group by d.claimed`,
      [drop.id],
    );
    expect(row!.late).toBe(0);
    expect(row!.claims).toBe(row!.claimed);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(row!.claims);
    expect(outcomes.every((o) => o === 'ok' || o === 'WINDOW_CLOSED')).toBe(true);
  });

  it('a window extended mid-storm keeps accepting claims; none lands outside the final window', async () => {
    const drop = await createDrop(app, { totalSlots: 2000, endInMs: 300 });
    const users = await createUsers(app, 400);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    await app.services.drops.windowAction(drop.id, { action: 'extend', seconds: 60 }, SYSTEM_ACTOR);
    const outcomes = await Promise.all(users.map((u) => app.services.claims.claim(u.id, drop.id).then(() => 'ok', (e: { code: string }) => e.code)));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(400);
    const [row] = await app.orm.em.fork().execute<{ outside: number }[]>(
      `select count(*)::int outside from "claim" c join "drop" d on d.id = c.drop_id
        where d.id = ? and (c.issued_at < d.claim_window_start or c.issued_at >= d.claim_window_end)`,
      [drop.id],
    );
    expect(row!.outside).toBe(0);
  });
});

describe('Idempotency-Key', () => {
  it('releases the key when an abandoned request ends in an error, so a retry runs', async () => {
    const drop = await createDrop(app, { endInMs: 400 });
    const user = await waitlistedUser(drop.id);
    const headers = { 'Idempotency-Key': 'abandoned', authorization: `Bearer ${user.token}` };
    const holder = new pg.Client({ connectionString: app.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from "drop" where id = $1 for update', [drop.id]);
      const controller = new AbortController();
      const aborted = fetch(`${app.baseUrl}/api/drops/${drop.id}/claim`, { method: 'POST', headers, signal: controller.signal }).catch(() => 'aborted');
      await new Promise((resolve) => setTimeout(resolve, 200));
      controller.abort();
      expect(await aborted).toBe('aborted');
      // The abandoned claim waits past the window's end and fails there (WINDOW_CLOSED).
      await new Promise((resolve) => setTimeout(resolve, 400));
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await app.services.drops.windowAction(drop.id, { action: 'open-now', seconds: 60 }, SYSTEM_ACTOR);
    const retry = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers: { 'Idempotency-Key': 'abandoned' } });
    expect(retry.status).toBe(201);
  });

  it('keeps the key in flight when the client aborts: a retry meanwhile is 409, one after the answer replays it, the action runs once', async () => {
    const drop = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    const url = `${app.baseUrl}/api/drops/${drop.id}/leave`;
    const headers = { 'idempotency-key': 'leave-aborted', authorization: `Bearer ${user.token}` };
    const leave = (signal?: AbortSignal) => httpRequest(url, { method: 'POST', headers, signal });
    const db = app.orm.em.fork();
    const waiting = async () =>
      (await db.execute<{ n: number }[]>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`))[0]!.n;
    const holder = new pg.Client({ connectionString: app.config.databaseUrl });
    await holder.connect();
    try {
      // The leave deletes the user's waitlist row: holding its lock keeps the handler running.
      await holder.query('begin');
      await holder.query('select 1 from "waitlist" where user_id = $1 for update', [user.id]);
      const controller = new AbortController();
      const aborted = leave(controller.signal).then(
        () => 'answered',
        () => 'aborted',
      );
      await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: 10_000 });
      controller.abort();
      expect(await aborted).toBe('aborted');
      // The retry must answer without running the action again (which would queue for the lock too).
      let stop = false;
      const ranAgain = (async () => {
        while (!stop) {
          if ((await waiting()) > 1) return 'ran again';
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return 'stopped';
      })();
      const during = await Promise.race([leave().then(async (res) => ({ status: res.statusCode, retryAfter: res.headers['retry-after'], body: (await res.body.json()) as { code: string } })), ranAgain]);
      stop = true;
      await ranAgain;
      expect(during).toMatchObject({ status: 409, retryAfter: '1', body: { code: 'IDEMPOTENCY_KEY_IN_USE' } });
      await holder.query('commit');
    } finally {
      await holder.end();
    }
    // Once the first request has answered (to nobody), the retry gets that answer.
    const replay = await vi.waitFor(
      async () => {
        const res = await leave();
        const body = await res.body.json();
        expect(res.statusCode).toBe(200);
        return { replayed: res.headers['idempotent-replayed'], body };
      },
      { timeout: 10_000 },
    );
    const stored = await db.findOneOrFail(IdempotencyKeySchema, { user: user.id, key: 'leave-aborted' });
    expect(replay).toEqual({ replayed: 'true', body: { left: true } });
    expect(stored).toMatchObject({ state: 'DONE', responseStatus: 200, responseBody: { left: true } });
    const [actions] = await db.execute<{ n: number }[]>(`select count(*)::int as n from "user_action" where user_id = ? and kind = 'leave'`, [user.id]);
    expect(actions!.n).toBe(1);
  });

  it('replays the first response for the same key and body', async () => {
    const drop = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    const headers = { 'Idempotency-Key': 'claim-1' };
    const first = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers });
    const replay = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers });
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
  });

  it('refuses the same key with another request (422)', async () => {
    const drop = await createDrop(app);
    const other = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    await addToWaitlist(app, other.id, [user.id]);
    const headers = { 'Idempotency-Key': 'reused-key' };
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers })).status).toBe(201);
    const mismatch = await api('POST', `/api/drops/${other.id}/claim`, { token: user.token, headers });
    expect([mismatch.status, mismatch.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_MISMATCH']);
    expect(await app.orm.em.fork().count(ClaimSchema, { drop: other.id })).toBe(0);
  });

  it('answers 409 with Retry-After while a request with that key is in flight', async () => {
    const drop = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    const path = `/api/drops/${drop.id}/claim`;
    // A key row IN_FLIGHT is exactly what a request still running (here or in another process) leaves.
    await app.orm.em.fork().insert(IdempotencyKeySchema, {
      user: user.id,
      key: 'running',
      fingerprint: createHash('sha256').update(`POST ${path}\nnull`).digest('hex'),
      state: 'IN_FLIGHT',
      responseStatus: null,
      responseBody: null,
    });
    const res = await api('POST', path, { token: user.token, headers: { 'Idempotency-Key': 'running' } });
    expect([res.status, res.body.code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('two parallel requests with one key: one runs, the other is 409 or a replay, never a second claim', async () => {
    const drop = await createDrop(app);
    const user = await waitlistedUser(drop.id);
    const headers = { 'Idempotency-Key': 'parallel' };
    const results = await Promise.all(Array.from({ length: 5 }, () => api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers })));
    for (const r of results) expect([201, 409]).toContain(r.status);
    expect(results.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(new Set(results.filter((r) => r.status === 201).map((r) => r.body.claim.code)).size).toBe(1);
    expect(await app.orm.em.fork().count(ClaimSchema, { drop: drop.id })).toBe(1);
  });

  it('forgets failures so the same key can be retried, and rejects malformed keys', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    const headers = { 'Idempotency-Key': 'retry-me' };
    const refused = await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers });
    expect(refused.body.code).toBe('NOT_ON_WAITLIST');
    await addToWaitlist(app, drop.id, [user.id]);
    await new Promise((r) => setTimeout(r, 50));
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: user.token, headers })).status).toBe(201);

    const bad = await api('POST', `/api/drops/${drop.id}/join`, { token: user.token, headers: { 'Idempotency-Key': 'has space' } });
    expect([bad.status, bad.body.code]).toEqual([400, 'VALIDATION_FAILED']);
  });
});

describe('graceful close', () => {
  it('lets a claim in flight finish and answer while the server stops taking new work, and tells sockets why they close', async () => {
    const own = await startTestApp();
    const drop = await createDrop(own, { totalSlots: 2 });
    const user = await createUser(own);
    await addToWaitlist(own, drop.id, [user.id]);
    const watcher = await connected(connect(own.baseUrl));
    await request(watcher, 'drop:watch', { dropId: drop.id });
    const told = next(watcher, 'server:shutdown');
    const closed = new Promise((resolve) => watcher.once('disconnect', resolve));
    const holder = new pg.Client({ connectionString: own.config.databaseUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query('select 1 from "drop" where id = $1 for update', [drop.id]);
    const inFlight = client(own.baseUrl)('POST', `/api/drops/${drop.id}/claim`, { token: user.token });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = own.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(fetch(`${own.baseUrl}/healthz`)).rejects.toThrow();
    await holder.query('commit');
    await holder.end();
    const res = await inFlight;
    expect(res.status).toBe(201);
    await closing;
    expect(await told).toEqual({ reason: 'server shutting down' });
    await closed;
    expect(await app.orm.em.fork().count(ClaimSchema, { drop: drop.id })).toBe(1);
  });
});

describe('group commit', () => {
  it('two server processes claiming for the same user at once still give one claim', async () => {
    const other = await startTestApp();
    try {
      const drop = await createDrop(app, { totalSlots: 5 });
      const users = await createUsers(app, 6);
      await addToWaitlist(app, drop.id, users.map((u) => u.id));
      const [twice] = users;
      const calls = [
        ...Array.from({ length: 10 }, () => app.services.claims.claim(twice!.id, drop.id)),
        ...Array.from({ length: 10 }, () => other.services.claims.claim(twice!.id, drop.id)),
        ...users.slice(1).map((u, i) => (i % 2 ? app : other).services.claims.claim(u.id, drop.id).catch((e: { code: string }) => e.code)),
      ];
      const results = await Promise.all(calls);
      const mine = results.slice(0, 20) as { claim: { code: string }; created: boolean }[];
      expect(new Set(mine.map((r) => r.claim.code)).size).toBe(1);
      expect(mine.filter((r) => r.created)).toHaveLength(1);
      const others = results.slice(20);
      expect(others.filter((r) => r === 'SOLD_OUT')).toHaveLength(1);
      expect(await app.orm.em.fork().count(ClaimSchema, { drop: drop.id })).toBe(5);
      expect((await dropRow(drop.id)).claimed).toBe(5);
    } finally {
      await other.close();
    }
  });
});
