import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { WaitlistSchema } from '../src/modules/waitlist/waitlist.entity.ts';
import { client, createDrop, createUsers, startTestApp, type TestApp } from './support/app.ts';
import { SYSTEM_ACTOR } from '../src/modules/audit/audit.ts';
import { sleep, until } from './support/sockets.ts';

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});

async function rankedDrop(app: TestApp, userIds: string[], options: { totalSlots: number; holdSeconds: number; startInMs: number }) {
  const drop = await createDrop(app, { allocationMode: 'PRIORITY', endInMs: 600_000, ...options });
  const joinedAt = new Date(Date.now() - 30_000);
  await app.orm.em.fork().insertMany(
    WaitlistSchema,
    userIds.map((user, i) => {
      const breakdown = app.services.formula.score({ signupLatencyMs: i * 1000, accountAgeDays: 0, rapidActions: 0 });
      return { id: randomUUID(), user, drop: drop.id, priorityScore: breakdown.score, scoreBreakdown: breakdown, joinedAt: new Date(joinedAt.getTime() + i) };
    }),
  );
  return drop;
}


describe('restart in the middle of holds', () => {
  it('expires the holds that ran out while no process was up, passes them on, freezes a window that opened meanwhile, keeps live holds', async () => {
    const first = await startTestApp();
    const users = await createUsers(first, 6);
    const ids = users.map((u) => u.id);
    const short = await rankedDrop(first, ids, { totalSlots: 2, holdSeconds: 1, startInMs: 60_000 });
    const long = await rankedDrop(first, ids, { totalSlots: 2, holdSeconds: 60, startInMs: 60_000 });
    const opensWhileDown = await rankedDrop(first, ids, { totalSlots: 3, holdSeconds: 60, startInMs: 700 });
    for (const drop of [short, long]) await first.services.drops.windowAction(drop.id, { action: 'open-now' }, SYSTEM_ACTOR);
    const before = await first.services.reservations.adminView(short.id);
    expect(before.counts).toMatchObject({ GRANTED: 2, WAITING: 4 });
    const holders = before.items.filter((i) => i.status === 'GRANTED').map((i) => i.userId);
    // The holds granted so far run 1 s; the ones granted after the restart get a minute, so the
    // claims below are not a race against a busy machine.
    await first.orm.em.fork().execute('update "drop" set hold_seconds = 60 where id = ?', [short.id]);
    await first.close();

    // Nobody is up while the 1 s holds run out and the third window opens: wall-clock instants
    // with no process up to show them, so only the clock can be waited for.
    await sleep(1300);

    const second = await startTestApp();
    apps.push(second);
    const line = (dropId: string) => second.services.reservations.adminView(dropId);
    const after = await until(() => line(short.id), (v) => v.counts.EXPIRED === 2 && v.counts.GRANTED === 2);
    expect(after.items.map((i) => i.status)).toEqual(['EXPIRED', 'EXPIRED', 'GRANTED', 'GRANTED', 'WAITING', 'WAITING']);
    expect(after.items.filter((i) => i.status === 'EXPIRED').map((i) => i.userId)).toEqual(holders);
    const frozen = await until(() => line(opensWhileDown.id), (v) => v.frozenAt !== null);
    expect(frozen.counts).toMatchObject({ GRANTED: 3, WAITING: 3 });
    expect((await line(long.id)).counts).toMatchObject({ GRANTED: 2, WAITING: 4 });

    const api = client(second.baseUrl);
    const token = (userId: string) => users.find((u) => u.id === userId)!.token;
    const late = await api('POST', `/api/drops/${short.id}/claim`, { token: token(holders[0]!) });
    expect(late.body).toMatchObject({ code: 'NOT_YOUR_TURN', reservation: { status: 'EXPIRED' } });
    expect((await api('POST', `/api/drops/${short.id}/claim`, { token: token(after.items[2]!.userId) })).status).toBe(201);
    expect((await api('POST', `/api/drops/${long.id}/claim`, { token: token((await line(long.id)).items[0]!.userId) })).status).toBe(201);
    const passed = await second.orm.em
      .fork()
      .execute<{ n: number }[]>(`select count(*)::int as n from "outbox_event" where drop_id = ? and type = 'reservation.passed'`, [short.id]);
    expect(passed[0]!.n).toBe(2);
  });
});
