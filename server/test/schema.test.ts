import { CheckConstraintViolationException, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { describe, expect, it } from 'vitest';
import { ClaimSchema } from '../src/modules/claims/claim.entity.ts';
import { DropSchema } from '../src/modules/drops/drop.entity.ts';
import { SessionSchema } from '../src/modules/auth/session.entity.ts';
import { UserSchema } from '../src/modules/users/user.entity.ts';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { addToWaitlist, client, createDrop, createUser, useTestApp } from './support/app.ts';

const { app } = useTestApp();

describe('migrations', () => {
  it('the committed migrations produce exactly the schema the entities describe', async () => {
    expect(await app.orm.migrator.getPending()).toEqual([]);
    const diff = await app.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });

  it('the committed snapshot matches the entities (no new migration needed)', async () => {
    expect(await app.orm.migrator.checkSchema()).toBe(false);
  });
});

describe('database constraints are the last guard', () => {
  const sql = (query: string, params: unknown[] = []) => app.orm.em.fork().execute(query, params);

  it('refuses an oversell, a negative counter, zero slots and an inverted window', async () => {
    const drop = await createDrop(app, { totalSlots: 2 });
    await expect(sql('update "drop" set claimed = 3 where id = ?', [drop.id])).rejects.toBeInstanceOf(CheckConstraintViolationException);
    await expect(sql('update "drop" set claimed = -1 where id = ?', [drop.id])).rejects.toBeInstanceOf(CheckConstraintViolationException);
    await expect(sql('update "drop" set total_slots = 0 where id = ?', [drop.id])).rejects.toBeInstanceOf(CheckConstraintViolationException);
    await expect(sql('update "drop" set claim_window_end = claim_window_start where id = ?', [drop.id])).rejects.toBeInstanceOf(
      CheckConstraintViolationException,
    );
  });

  it('refuses a second claim for one user and drop, a duplicate code, and a mixed-case email', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    const em = app.orm.em.fork();
    await em.insert(ClaimSchema, { id: crypto.randomUUID(), user: user.id, drop: drop.id, code: 'AAAA-AAAA-AAAA' });
    await expect(
      app.orm.em.fork().insert(ClaimSchema, { id: crypto.randomUUID(), user: user.id, drop: drop.id, code: 'BBBB-BBBB-BBBB' }),
    ).rejects.toBeInstanceOf(UniqueConstraintViolationException);
    const other = await createDrop(app);
    await expect(
      app.orm.em.fork().insert(ClaimSchema, { id: crypto.randomUUID(), user: user.id, drop: other.id, code: 'AAAA-AAAA-AAAA' }),
    ).rejects.toBeInstanceOf(UniqueConstraintViolationException);
    await expect(
      app.orm.em.fork().insert(UserSchema, { id: crypto.randomUUID(), email: 'Mixed@Case.test', passwordHash: 'x' }),
    ).rejects.toBeInstanceOf(CheckConstraintViolationException);
  });

  it('deleting a user cascades to their sessions, waitlist entries and claims', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    await addToWaitlist(app, drop.id, [user.id]);
    expect((await client(app.baseUrl)('POST', `/api/drops/${drop.id}/claim`, { token: user.token })).status).toBe(201);
    const em = app.orm.em.fork();
    await em.nativeDelete(UserSchema, { id: user.id });
    expect(await em.count(SessionSchema, { user: user.id })).toBe(0);
    expect(await em.count(WaitlistSchema, { user: user.id })).toBe(0);
    expect(await em.count(ClaimSchema, { user: user.id })).toBe(0);
    expect(await em.count(DropSchema, { id: drop.id })).toBe(1);
  });
});

describe('maintenance', () => {
  it('prunes old request counters, idempotency keys and long-dead sessions, and keeps live ones', async () => {
    const { pruneExpiredRows } = await import('../src/db/maintenance.ts');
    const user = await createUser(app);
    const sql = (query: string, params: unknown[] = []) => app.orm.em.fork().execute(query, params);
    await sql(`insert into "user_action" (user_id, kind, at) values (?, 'join', now() - interval '2 hours'), (?, 'join', now())`, [user.id, user.id]);
    await sql(
      `insert into "idempotency_key" (user_id, key, fingerprint, state, created_at) values (?, 'old', 'f', 'DONE', now() - interval '2 days'), (?, 'new', 'f', 'DONE', now())`,
      [user.id, user.id],
    );
    await sql(`update "session" set revoked_at = now() - interval '8 days' where user_id = ?`, [user.id]);
    const deleted = await pruneExpiredRows(app.orm);
    expect(deleted.userActions).toBeGreaterThanOrEqual(1);
    expect(deleted.idempotencyKeys).toBeGreaterThanOrEqual(1);
    expect(deleted.sessions).toBeGreaterThanOrEqual(1);
    const remaining = await sql(`select (select count(*)::int from "user_action" where user_id = ?) as actions, (select count(*)::int from "idempotency_key" where user_id = ?) as keys`, [user.id, user.id]);
    expect(remaining[0]).toEqual({ actions: 1, keys: 1 });
  });
});
