import { Webhook } from 'standardwebhooks';
import { afterAll, expect, it, vi } from 'vitest';
import { client, createUser, startTestApp, type TestApp } from './support/app.ts';
import { startReceiver } from './support/receiver.ts';

const ENV = { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_TIMEOUT_MS: '5000' };
const running: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const item of running.splice(0).reverse()) await item.close();
});

const newDrop = (title: string) => ({
  title,
  totalSlots: 5,
  claimWindowStart: new Date(Date.now() - 60_000).toISOString(),
  claimWindowEnd: new Date(Date.now() + 600_000).toISOString(),
});

it('a restart in the middle of a backlog loses nothing, keeps the order, and repeats only with the same webhook-id', async () => {
  // The receiver holds its answer to the fourth event until told: the server stops while that
  // request is in flight, so the receiver has seen it but the server never heard back.
  let unblock!: () => void;
  const blocked = new Promise<void>((resolve) => (unblock = resolve));
  let heldId: string | undefined;
  const hook = await startReceiver((request) => {
    if (heldId === undefined && request.eventId > 0 && hook.eventIds().length === 4) heldId = request.webhookId;
    return request.webhookId === heldId && hook.received.filter((r) => r.webhookId === heldId).length === 1 ? { status: 200, hold: blocked } : { status: 200 };
  });
  running.push(hook);

  const first: TestApp = await startTestApp(ENV);
  const api = client(first.baseUrl);
  const admin = await createUser(first, 'ADMIN');
  const created = await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url: hook.url, eventTypes: ['drop.created'] } });
  expect(created.status).toBe(201);
  for (let i = 0; i < 10; i++) expect((await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop(`Backlog ${i}`) })).status).toBe(201);
  await vi.waitFor(() => expect(heldId).toBeDefined(), { timeout: 10_000 });
  await first.close();
  unblock();

  const second = await startTestApp(ENV);
  running.push(second);
  const again = client(second.baseUrl);
  await vi.waitFor(
    async () => {
      const page = await again('GET', `/api/admin/webhooks/${created.body.id}/deliveries?pageSize=200`, { token: admin.token });
      expect(page.body.items).toHaveLength(10);
      expect(page.body.items.every((d: { status: string }) => d.status === 'DELIVERED')).toBe(true);
    },
    { timeout: 20_000, interval: 100 },
  );

  // Every event once in order once duplicates are dropped by webhook-id; the only repeat is the one in flight.
  const ids = hook.eventIds();
  expect(ids).toHaveLength(10);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
  const repeats = hook.received.length - new Set(hook.received.map((r) => r.webhookId)).size;
  expect(repeats).toBe(1);
  const held = hook.received.filter((r) => r.webhookId === heldId);
  expect(held).toHaveLength(2);
  expect(held[0]!.eventId).toBe(held[1]!.eventId);
  for (const request of hook.received) {
    const headers = { 'webhook-id': request.webhookId, 'webhook-timestamp': String(request.headers['webhook-timestamp']), 'webhook-signature': String(request.headers['webhook-signature']) };
    expect(() => new Webhook(created.body.secret).verify(request.body, headers)).not.toThrow();
  }
});
