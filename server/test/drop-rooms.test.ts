import { describe, expect, it, vi } from 'vitest';
import { createDrop, createUser, useTestApp } from './support/app.ts';
import { connect, connected, next, request } from './support/sockets.ts';

const { app, api } = useTestApp();

const live = () => app.realtime.rooms.stats().dropIds;
/** Nothing of any drop is left in this process: every room (clock, counts, positions, caches) was disposed. */
const nothingLeft = () => vi.waitFor(() => expect(app.realtime.rooms.stats()).toEqual({ rooms: 0, dropIds: [] }), { timeout: 10_000, interval: 50 });

describe('drop rooms: memory follows the live drops', () => {
  it('a drop that ended and whose last watcher left leaves no per-drop entry behind', async () => {
    const admin = await createUser(app, 'ADMIN');
    const user = await createUser(app);
    // Long enough to watch and join before it opens on a busy machine; the test waits for both edges.
    const start = Date.now() + 2500;
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Short', totalSlots: 3, claimWindowStart: new Date(start).toISOString(), claimWindowEnd: new Date(start + 2000).toISOString() },
    });
    expect(created.status).toBe(201);
    const dropId: string = created.body.id;

    const watcher = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    // Both edges are listened for before watching: on a busy machine the opening can come before the join's answer.
    const opened = next(watcher, 'drop:window', (e: any) => e.type === 'opened', 10_000);
    const closed = next(watcher, 'drop:window', (e: any) => e.type === 'closed', 15_000);
    expect((await request(watcher, 'drop:watch', { dropId })).ok).toBe(true);
    expect(await request(watcher, 'drop:join', { dropId })).toMatchObject({ ok: true });
    expect(live()).toContain(dropId);
    await opened;
    const counted = next(watcher, 'drop:counts', (c: any) => c.dropId === dropId && c.claimed === 1);
    expect((await request(watcher, 'drop:claim', { dropId })).ok).toBe(true);
    await counted;
    await closed;
    // Ended, but still watched: the room stays for its watcher.
    expect(live()).toContain(dropId);

    expect((await request(watcher, 'drop:unwatch', { dropId })).ok).toBe(true);
    await nothingLeft();
  });

  it('a drop scheduled ahead has a room with nobody watching; deleting it frees the room even while watched', async () => {
    const admin = await createUser(app, 'ADMIN');
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: {
        title: 'Later',
        totalSlots: 2,
        claimWindowStart: new Date(Date.now() + 3_600_000).toISOString(),
        claimWindowEnd: new Date(Date.now() + 7_200_000).toISOString(),
      },
    });
    const dropId: string = created.body.id;
    await vi.waitFor(() => expect(live()).toContain(dropId));

    const watcher = await connected(connect(app.baseUrl));
    expect((await request(watcher, 'drop:watch', { dropId })).ok).toBe(true);
    const gone = next(watcher, 'drop:window', (e: any) => e.type === 'deleted');
    expect((await api('DELETE', `/api/admin/drops/${dropId}`, { token: admin.token })).status).toBe(204);
    await gone;
    await nothingLeft();
  });

  it('a drop nobody watches that only needed its counts sent keeps nothing afterwards', async () => {
    const drop = await createDrop(app);
    const user = await createUser(app);
    const lobby = await connected(connect(app.baseUrl));
    expect((await request(lobby, 'drops:watch')).ok).toBe(true);
    const counts = next(lobby, 'drop:counts', (c: any) => c.dropId === drop.id && c.waitlistCount === 1);
    expect((await api('POST', `/api/drops/${drop.id}/join`, { token: user.token })).status).toBe(201);
    await counts;
    await nothingLeft();
  });
});
