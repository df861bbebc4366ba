import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { pruneExpiredRows } from '../src/db/maintenance.ts';
import { pruneOutbox } from '../src/modules/events/retention.ts';
import { WebhookDeliverySchema } from '../src/modules/webhooks/webhook-delivery.entity.ts';
import { createUser, useTestApp } from './support/app.ts';
import { startReceiver } from './support/receiver.ts';
import { collect, connect, connected, next } from './support/sockets.ts';

const { app, api } = useTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_FOR_SECONDS: '1' });
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
});

const sql = <T = Record<string, unknown>>(query: string, params: unknown[] = []) => app.orm.em.fork().execute<T[]>(query, params);

/** Creates a drop and waits until its `drop.created` event is published; returns the event's id. */
async function publishedDrop(title: string): Promise<number> {
  const res = await api('POST', '/api/admin/drops', {
    token: admin.token,
    body: { title, totalSlots: 3, claimWindowStart: new Date(Date.now() + 3600_000).toISOString(), claimWindowEnd: new Date(Date.now() + 7200_000).toISOString() },
  });
  expect(res.status).toBe(201);
  return vi.waitFor(
    async () => {
      const [row] = await sql<{ seq: string | null }>(`select seq from "outbox_event" where type = 'drop.created' and drop_id = ?`, [res.body.id]);
      if (row?.seq == null) throw new Error('not published yet');
      return Number(row.seq);
    },
    { timeout: 5000, interval: 20 },
  );
}

/** Makes every published event up to `seq` look older than any retention. */
const age = (seq: number) => sql(`update "outbox_event" set published_at = now() - interval '30 days' where seq <= ?`, [seq]);

describe('outbox retention', () => {
  it('prunes old published events as a prefix; a replay or a stream resume from before it gets EVENTS_EXPIRED; ids go on', async () => {
    for (let i = 0; i < 5; i++) await publishedDrop(`Old ${i}`);
    const newest = await publishedDrop('Old, newest');
    await age(newest);
    const pruned = await pruneOutbox(app.orm, 24);
    expect(pruned).toBeGreaterThanOrEqual(5);
    // The newest event stays whatever its age: the next ids are numbered after it.
    expect(await sql(`select min(seq)::int as oldest, max(seq)::int as top from "outbox_event"`)).toEqual([{ oldest: newest, top: newest }]);

    const expired = await api('GET', '/api/admin/events?after=0', { token: admin.token });
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ code: 'EVENTS_EXPIRED', oldestEventId: newest });
    expect((await api('GET', `/api/admin/events?after=${newest - 2}`, { token: admin.token })).body.code).toBe('EVENTS_EXPIRED');
    const resumed = await api('GET', `/api/admin/events?after=${newest - 1}`, { token: admin.token });
    expect(resumed.body).toMatchObject({ oldest: newest, newest, next: newest });
    expect(resumed.body.items.map((e: { id: number }) => e.id)).toEqual([newest]);
    const fromOldest = await api('GET', '/api/admin/events', { token: admin.token });
    expect(fromOldest.body.items[0].id).toBe(newest);

    const refused = connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: 0 } });
    const error = await new Promise<Error & { data?: { code?: string; oldestEventId?: number } }>((resolve) => refused.once('connect_error', resolve));
    expect(error.data).toMatchObject({ code: 'EVENTS_EXPIRED', oldestEventId: newest });

    // Without lastEventId the stream starts at the oldest event kept, then goes live; ids continue after the prune.
    const fresh = connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token } });
    const seen = collect<{ id: number }>(fresh, 'event');
    await connected(fresh);
    const live = next(fresh, 'event', (e: { payload: { drop?: { title: string } } }) => e.payload.drop?.title === 'After the prune');
    const after = await publishedDrop('After the prune');
    await live;
    expect(after).toBe(newest + 1);
    expect(seen.map((e) => e.id)).toEqual([newest, newest + 1]);

    // The maintenance job prunes too: the old event is no longer the newest, so it goes now.
    const maintenance = await pruneExpiredRows(app.orm, { outboxRetentionHours: 24 });
    expect(maintenance.outboxEvents).toBe(1);
    expect((await api('GET', '/api/admin/events', { token: admin.token })).body).toMatchObject({ oldest: newest + 1, newest: newest + 1 });
  });

  it('keeps every event a webhook endpoint still has to deliver; a redelivery of a pruned one is EVENTS_EXPIRED', async () => {
    let healthy = false;
    const hook = await startReceiver(() => (healthy ? { status: 200 } : { status: 503 }));
    const failing = (await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url: hook.url, eventTypes: ['drop.created'] } })).body;
    const lost = await publishedDrop('Delivery given up');
    const failedDelivery = await vi.waitFor(
      async () => {
        const page = await api('GET', `/api/admin/webhooks/${failing.id}/deliveries?status=FAILED`, { token: admin.token });
        expect(page.body.items).toHaveLength(1);
        return page.body.items[0] as { id: string; eventId: number };
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(failedDelivery.eventId).toBe(lost);
    await api('PATCH', `/api/admin/webhooks/${failing.id}`, { token: admin.token, body: { enabled: false } });

    // A second endpoint with a delivery still waiting for its next attempt, an hour away. (It wants
    // another event type, so the row written here is its only delivery.)
    const waiting = (await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url: hook.url, eventTypes: ['claim.redeemed'] } })).body;
    const kept = await publishedDrop('Still to deliver');
    await app.orm.em.fork().insert(WebhookDeliverySchema, {
      id: randomUUID(),
      endpoint: waiting.id,
      eventSeq: kept,
      eventType: 'drop.created',
      status: 'PENDING',
      attempts: 3,
      nextAttemptAt: new Date(Date.now() + 3600_000),
      firstAttemptAt: new Date(),
    });
    const later = await publishedDrop('Later');
    await age(later);

    const pruned = await pruneOutbox(app.orm, 24);
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect(await sql(`select min(seq)::int as oldest from "outbox_event"`)).toEqual([{ oldest: kept }]);

    const one = await api('POST', `/api/admin/webhooks/${failing.id}/deliveries/${failedDelivery.id}/redeliver`, { token: admin.token });
    expect(one.status).toBe(410);
    expect(one.body).toMatchObject({ code: 'EVENTS_EXPIRED', oldestEventId: kept });
    const all = await api('POST', `/api/admin/webhooks/${failing.id}/redeliver`, { token: admin.token });
    expect(all.body).toEqual({ redelivered: 0, expired: 1 });

    // The kept event is still delivered when its attempt comes.
    healthy = true;
    await sql(`update "webhook_delivery" set next_attempt_at = now() where endpoint_id = ?`, [waiting.id]);
    await vi.waitFor(
      async () => {
        const [row] = await app.orm.em.fork().find(WebhookDeliverySchema, { endpoint: waiting.id });
        expect(row).toMatchObject({ status: 'DELIVERED', eventSeq: kept });
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(hook.received.at(-1)!.eventId).toBe(kept);
    await hook.close();
  });

  it('a subscriber whose replay falls behind a prune gets stream:error EVENTS_EXPIRED and is closed, never a gap', async () => {
    for (const hook of (await api('GET', '/api/admin/webhooks', { token: admin.token })).body.items) await api('DELETE', `/api/admin/webhooks/${hook.id}`, { token: admin.token });
    const first = await publishedDrop('Replay 1');
    await publishedDrop('Replay 2');
    const last = await publishedDrop('Replay 3');
    // The prune runs for real between the handshake (which accepts the position) and the replay's first read.
    const events = app.services.events;
    const read = events.after;
    events.after = async (cursor, limit) => {
      events.after = read;
      await age(last);
      await pruneOutbox(app.orm, 24);
      return read(cursor, limit);
    };
    const socket = connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: first - 1 } });
    const seen = collect(socket, 'event');
    const closed = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    const error = next<{ code: string; oldestEventId: number }>(socket, 'stream:error');
    expect(await error).toMatchObject({ code: 'EVENTS_EXPIRED', oldestEventId: last });
    expect(await closed).toBe('io server disconnect');
    expect(seen).toEqual([]);
  });
});