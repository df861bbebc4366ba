import { Webhook } from 'standardwebhooks';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createUser, useTestApp } from './support/app.ts';
import { startReceiver, type TestReceiver } from './support/receiver.ts';

// Receivers are on loopback, so private addresses are allowed here (webhook-ssrf.test.ts runs without).
// Retries start after 50 ms and stop 2 s after the first attempt, so giving up is seen in a test.
const { app, api } = useTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_FOR_SECONDS: '2', WEBHOOK_TIMEOUT_MS: '2000' });
let admin: Awaited<ReturnType<typeof createUser>>;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
});

afterEach(async () => {
  // Each test's endpoints go, so later tests' events are not sent to receivers that closed.
  for (const hook of (await api('GET', '/api/admin/webhooks', { token: admin.token })).body.items) {
    await api('DELETE', `/api/admin/webhooks/${hook.id}`, { token: admin.token });
  }
  for (const receiver of receivers.splice(0)) await receiver.close();
});

async function receiver(answer?: TestReceiver['answer']): Promise<TestReceiver> {
  const started = await startReceiver(answer);
  receivers.push(started);
  return started;
}

async function register(url: string, eventTypes: string[] = ['drop.created']) {
  const res = await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url, eventTypes } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string; eventTypes: string[] };
}

const newDrop = (title: string) => ({
  title,
  totalSlots: 5,
  claimWindowStart: new Date(Date.now() - 60_000).toISOString(),
  claimWindowEnd: new Date(Date.now() + 600_000).toISOString(),
});

async function createDrop(title: string): Promise<string> {
  const res = await api('POST', '/api/admin/drops', { token: admin.token, body: newDrop(title) });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function deliveries(endpointId: string, query = '') {
  const res = await api('GET', `/api/admin/webhooks/${endpointId}/deliveries?pageSize=200${query}`, { token: admin.token });
  expect(res.status).toBe(200);
  return res.body.items as { id: string; webhookId: string; eventId: number; status: string; attempts: number; lastStatus: number | null; lastError: string | null; lastResponse: string | null }[];
}

/** Polls until `check` passes (a delivery is asynchronous by nature). */
const eventually = <T>(check: () => Promise<T> | T, timeout = 10_000) => vi.waitFor(check, { timeout, interval: 50 });

describe('registering endpoints', () => {
  it('shows the whsec_ secret once; the list and the endpoint never carry it again, and the audit log records it', async () => {
    const hook = await receiver();
    const created = await register(hook.url, ['drop.updated', 'drop.created']);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.eventTypes).toEqual(['drop.created', 'drop.updated']);
    const list = await api('GET', '/api/admin/webhooks', { token: admin.token });
    const one = await api('GET', `/api/admin/webhooks/${created.id}`, { token: admin.token });
    expect(list.body.items.map((item: { id: string }) => item.id)).toContain(created.id);
    expect(one.body).toMatchObject({ id: created.id, url: hook.url, enabled: true, deliveries: { PENDING: 0, DELIVERED: 0, FAILED: 0 } });
    expect(JSON.stringify(list.body) + JSON.stringify(one.body)).not.toContain(created.secret.slice(6));
    const audit = await api('GET', '/api/admin/audit?action=webhook.create', { token: admin.token });
    expect(audit.body.items[0]).toMatchObject({ action: 'webhook.create', targetId: created.id });
    expect(JSON.stringify(audit.body)).not.toContain(created.secret.slice(6));
  });

  it('answers bad input with 4xx and stable codes, and changes nothing', async () => {
    const bad = async (body: unknown, code: string) => {
      const res = await api('POST', '/api/admin/webhooks', { token: admin.token, body });
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.code, JSON.stringify(body)).toBe(code);
    };
    await bad({}, 'VALIDATION_FAILED');
    await bad({ url: 'ftp://127.0.0.1/x', eventTypes: ['drop.created'] }, 'VALIDATION_FAILED');
    await bad({ url: 'not a url', eventTypes: ['drop.created'] }, 'VALIDATION_FAILED');
    await bad({ url: 'http://127.0.0.1/x', eventTypes: [] }, 'VALIDATION_FAILED');
    await bad({ url: 'http://127.0.0.1/x', eventTypes: ['drop.exploded'] }, 'VALIDATION_FAILED');
    await bad({ url: 'http://127.0.0.1/x', eventTypes: ['drop.created', 'drop.created'] }, 'VALIDATION_FAILED');
    await bad({ url: 'http://127.0.0.1/x', eventTypes: ['drop.created'], secret: 'whsec_mine' }, 'VALIDATION_FAILED');
    await bad({ url: `http://${'a'.repeat(2100)}.test/`, eventTypes: ['drop.created'] }, 'VALIDATION_FAILED');
    await bad({ url: 'http://user:pass@127.0.0.1/x', eventTypes: ['drop.created'] }, 'WEBHOOK_URL_REFUSED');
    await bad({ url: 'http://no-such-host.invalid/x', eventTypes: ['drop.created'] }, 'WEBHOOK_URL_REFUSED');
    expect((await api('GET', '/api/admin/webhooks', { token: admin.token })).body.items).toEqual([]);

    const hook = await register('http://127.0.0.1:9/x');
    expect((await api('PATCH', `/api/admin/webhooks/${hook.id}`, { token: admin.token, body: {} })).body.code).toBe('VALIDATION_FAILED');
    expect((await api('PATCH', `/api/admin/webhooks/${hook.id}`, { token: admin.token, body: { enabled: 'no' } })).body.code).toBe('VALIDATION_FAILED');
    expect((await api('GET', '/api/admin/webhooks/00000000-0000-4000-8000-000000000000', { token: admin.token })).status).toBe(404);
    expect((await api('GET', '/api/admin/webhooks/nope', { token: admin.token })).body.code).toBe('NOT_FOUND');
    expect((await api('DELETE', '/api/admin/webhooks/00000000-0000-4000-8000-000000000000', { token: admin.token })).status).toBe(404);
    expect((await api('GET', `/api/admin/webhooks/${hook.id}/deliveries?status=LOST`, { token: admin.token })).body.code).toBe('VALIDATION_FAILED');
    expect((await api('POST', `/api/admin/webhooks/${hook.id}/redeliver`, { token: admin.token, body: { all: true } })).body.code).toBe('VALIDATION_FAILED');
    const missing = await api('POST', `/api/admin/webhooks/${hook.id}/deliveries/00000000-0000-4000-8000-000000000000/redeliver`, { token: admin.token });
    expect(missing.status).toBe(404);
    const user = await createUser(app);
    expect((await api('GET', '/api/admin/webhooks', { token: user.token })).status).toBe(403);
    expect((await api('POST', '/api/admin/webhooks', { body: { url: 'http://127.0.0.1/', eventTypes: ['drop.created'] } })).status).toBe(401);
  });

  it('disables, enables and deletes an endpoint: nothing is sent while disabled or after deletion', async () => {
    const hook = await receiver();
    const created = await register(hook.url);
    const disabled = await api('PATCH', `/api/admin/webhooks/${created.id}`, { token: admin.token, body: { enabled: false } });
    expect(disabled.body).toMatchObject({ enabled: false });
    await createDrop('While disabled');
    // Published (not only committed) while the endpoint is disabled.
    await eventually(async () => expect(JSON.stringify((await api('GET', '/api/admin/events?limit=1000', { token: admin.token })).body.items)).toContain('While disabled'));
    await api('PATCH', `/api/admin/webhooks/${created.id}`, { token: admin.token, body: { enabled: true } });
    await createDrop('After enabling');
    await eventually(() => expect(hook.received.map((r) => JSON.parse(r.body).data.payload.drop.title)).toEqual(['After enabling']));
    expect((await api('DELETE', `/api/admin/webhooks/${created.id}`, { token: admin.token })).status).toBe(204);
    expect((await api('GET', `/api/admin/webhooks/${created.id}`, { token: admin.token })).status).toBe(404);
    const marker = await receiver();
    await register(marker.url);
    await createDrop('After deletion');
    await eventually(() => expect(marker.received).toHaveLength(1));
    expect(hook.received).toHaveLength(1);
  });
});

describe('deliveries', () => {
  it('are signed per Standard Webhooks: Webhook.verify accepts them with the secret and refuses another secret', async () => {
    const hook = await receiver();
    const created = await register(hook.url, ['drop.created']);
    const dropId = await createDrop('Signed delivery');
    // A type the endpoint did not ask for is not sent.
    const user = await createUser(app);
    await api('POST', `/api/drops/${dropId}/join`, { token: user.token });
    await eventually(() => expect(hook.received).toHaveLength(1));
    const [request] = hook.received;
    const headers = { 'webhook-id': String(request!.headers['webhook-id']), 'webhook-timestamp': String(request!.headers['webhook-timestamp']), 'webhook-signature': String(request!.headers['webhook-signature']) };
    const message = new Webhook(created.secret).verify(request!.body, headers) as { type: string; timestamp: string; data: { id: number; type: string; dropId: string; payload: { drop: { title: string } } } };
    expect(message).toMatchObject({ type: 'drop.created', data: { type: 'drop.created', dropId, payload: { drop: { title: 'Signed delivery' } } } });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(request!.body, headers)).toThrow();
    expect(() => new Webhook(created.secret).verify(request!.body.replace('Signed', 'Forged'), headers)).toThrow();

    const [delivery] = await deliveries(created.id);
    expect(delivery).toMatchObject({ webhookId: headers['webhook-id'], eventId: message.data.id, status: 'DELIVERED', attempts: 1, lastStatus: 204, lastError: null });
  });

  it('arrive in event order per endpoint, one at a time, under many events and a slow receiver', async () => {
    let inFlight = 0;
    let most = 0;
    const hook = await receiver(() => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      return { status: 200, hold: new Promise((resolve) => setTimeout(resolve, Math.random() * 15)).then(() => void (inFlight -= 1)) };
    });
    const fast = await receiver();
    const slow = await register(hook.url);
    const other = await register(fast.url);
    await Promise.all(Array.from({ length: 30 }, (_, i) => createDrop(`Ordered ${i}`)));
    await eventually(() => expect(hook.received).toHaveLength(30), 20_000);
    await eventually(() => expect(fast.received).toHaveLength(30));
    const ids = hook.received.map((r) => r.eventId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(fast.received.map((r) => r.eventId)).toEqual(ids);
    expect(most).toBe(1);
    const listed = await deliveries(slow.id);
    expect(listed.map((d) => d.eventId)).toEqual([...ids].reverse());
    expect(listed.every((d) => d.status === 'DELIVERED')).toBe(true);
    expect((await deliveries(other.id)).every((d) => d.status === 'DELIVERED')).toBe(true);
  });

  it('retries a failing receiver with growing delays, keeps the webhook-id, records every attempt, and holds the next event back meanwhile', async () => {
    const hook = await receiver((request, n) => (request.type === 'drop.created' && n <= 3 ? { status: 500, body: 'x'.repeat(2000) } : { status: 200, body: 'ok' }));
    const created = await register(hook.url, ['drop.created', 'drop.updated']);
    const dropId = await createDrop('Flaky receiver');
    await eventually(() => expect(hook.received.length).toBeGreaterThanOrEqual(1));
    await api('PATCH', `/api/admin/drops/${dropId}`, { token: admin.token, body: { title: 'Flaky receiver, renamed' } });
    await eventually(() => expect(hook.received).toHaveLength(5));
    // Four attempts of the first event (the last one succeeds), then the update, never before.
    expect(hook.received.map((r) => r.type)).toEqual(['drop.created', 'drop.created', 'drop.created', 'drop.created', 'drop.updated']);
    expect(new Set(hook.received.slice(0, 4).map((r) => r.webhookId)).size).toBe(1);
    const gaps = hook.received.slice(1, 4).map((r, i) => r.at - hook.received[i]!.at);
    // At least the base delay, doubling: 50, 100, 200 ms.
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(50 * 2 ** i - 5));
    const [update, first] = await deliveries(created.id);
    expect(first).toMatchObject({ status: 'DELIVERED', attempts: 4, lastStatus: 200, lastError: null, lastResponse: 'ok' });
    expect(update).toMatchObject({ status: 'DELIVERED', attempts: 1 });
  });

  it('gives up after the retry period (FAILED, response kept only as a snippet), moves on, and an admin redelivers one or all', async () => {
    let healthy = false;
    const hook = await receiver(() => (healthy ? { status: 200 } : { status: 503, body: 'down '.repeat(400) }));
    const created = await register(hook.url);
    await createDrop('Given up 1');
    await createDrop('Given up 2');
    await eventually(async () => expect((await deliveries(created.id, '&status=FAILED')).length).toBe(2), 15_000);
    const failed = await deliveries(created.id);
    for (const delivery of failed) {
      expect(delivery.attempts).toBeGreaterThanOrEqual(2);
      expect(delivery).toMatchObject({ status: 'FAILED', lastStatus: 503, lastError: 'answered 503' });
      expect(delivery.lastResponse!.length).toBeLessThanOrEqual(500);
      expect(delivery.lastResponse).toMatch(/^down down/);
    }
    const endpoint = await api('GET', `/api/admin/webhooks/${created.id}`, { token: admin.token });
    expect(endpoint.body.deliveries).toEqual({ PENDING: 0, DELIVERED: 0, FAILED: 2 });

    healthy = true;
    const [second, first] = failed;
    const again = await api('POST', `/api/admin/webhooks/${created.id}/deliveries/${first!.id}/redeliver`, { token: admin.token });
    expect(again.status).toBe(200);
    await eventually(async () => expect((await deliveries(created.id, '&status=DELIVERED')).map((d) => d.id)).toEqual([first!.id]));
    const redelivered = hook.received.filter((r) => r.webhookId === first!.webhookId);
    expect(redelivered.at(-1)!.eventId).toBe(first!.eventId);
    const notFailed = await api('POST', `/api/admin/webhooks/${created.id}/deliveries/${first!.id}/redeliver`, { token: admin.token });
    expect(notFailed).toMatchObject({ status: 409, body: { code: 'DELIVERY_NOT_FAILED' } });

    const all = await api('POST', `/api/admin/webhooks/${created.id}/redeliver`, { token: admin.token });
    expect(all.body).toEqual({ redelivered: 1, expired: 0 });
    await eventually(async () => expect((await deliveries(created.id, '&status=DELIVERED')).map((d) => d.id).sort()).toEqual([first!.id, second!.id].sort()));
    expect(hook.received.at(-1)!.webhookId).toBe(second!.webhookId);
    const audit = await api('GET', '/api/admin/audit?action=webhook.redeliver', { token: admin.token });
    expect(audit.body.items).toHaveLength(2);
  });

  it('never follows a redirect: a 3xx is a failed attempt and the target hears nothing', async () => {
    const target = await receiver();
    const hook = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const created = await register(hook.url);
    await createDrop('Redirected');
    await eventually(async () => expect((await deliveries(created.id))[0]).toMatchObject({ lastStatus: 302 }));
    const [delivery] = await deliveries(created.id);
    expect(delivery!.lastError).toBe(`redirect to ${target.url} not followed`);
    expect(delivery!.status).not.toBe('DELIVERED');
    expect(target.received).toHaveLength(0);
  });

  it('bounds each attempt by WEBHOOK_TIMEOUT_MS: a receiver that never answers is a failed attempt', async () => {
    let release!: () => void;
    const never = new Promise<void>((resolve) => (release = resolve));
    const hook = await receiver(() => ({ status: 200, hold: never }));
    const created = await register(hook.url);
    await createDrop('Silent receiver');
    await eventually(async () => expect((await deliveries(created.id))[0]).toMatchObject({ lastError: 'no answer within 2000 ms', lastStatus: null }), 15_000);
    release();
  });
});
