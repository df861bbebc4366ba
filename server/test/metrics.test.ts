import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { addToWaitlist, createDrop, createUsers, startTestApp, useTestApp, type TestApp } from './support/app.ts';
import { connect, connected, request } from './support/sockets.ts';
import { startReceiver } from './support/receiver.ts';
import { routerRoutes } from './support/routes.ts';

/**
 * Prometheus metrics: off by default (404), behind a bearer token on the app's port, or on a
 * listener of their own; and what they say moves with what happens (a claim storm, sockets).
 */
const TOKEN = 'metrics-token-for-the-tests-0123456789';
// Webhook receivers are on loopback; a failing delivery is retried after 50 ms and given up after a second.
const { app, api } = useTestApp({ METRICS_TOKEN: TOKEN, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_FOR_SECONDS: '1' });

/** One sample's value from the Prometheus text format (0 when the series does not exist yet). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return 0;
}

async function scrape(baseUrl = app.baseUrl, token: string | undefined = TOKEN): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

describe('off by default', () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await startTestApp();
  });
  afterAll(() => plain.close());

  it('answers 404 at /metrics and keeps nothing', async () => {
    const res = await fetch(`${plain.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
    expect(loadConfig({ NODE_ENV: 'test', JWT_ACCESS_SECRET: TOKEN + TOKEN, ALTCHA_HMAC_KEY: TOKEN + TOKEN }).metrics.enabled).toBe(false);
  });
});

describe('METRICS_TOKEN: /metrics on the app port', () => {
  it('refuses a scrape without the token or with a wrong one (401, problem+json)', async () => {
    const none = await api('GET', '/metrics');
    expect([none.status, none.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await api('GET', '/metrics', { token: `${TOKEN}x` });
    expect([wrong.status, wrong.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    const short = await api('GET', '/metrics', { token: 'x' });
    expect(short.status).toBe(401);
  });

  it('refuses a token too short to be a secret at start', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ NODE_ENV: 'test', PORT: '4000', METRICS_PORT: '4000' })).toThrow(/METRICS_PORT/);
  });

  it('is in the OpenAPI document when it is a route, behind its own security scheme', async () => {
    const doc = (await api('GET', '/api/openapi.json')).body;
    expect(routerRoutes(app).map((r) => `${r.method} ${r.path}`)).toContain('GET /metrics');
    expect(doc.paths['/metrics'].get.security).toEqual([{ metricsToken: [] }]);
    expect(Object.keys(doc.paths['/metrics'].get.responses).sort()).toEqual(['200', '401', '500']);
  });

  it('serves the process metrics with the token', async () => {
    const text = await scrape();
    expect(sample(text, 'dropspot_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('dropspot_nodejs_eventloop_lag_p99_seconds');
    expect(text).toContain('dropspot_db_pool_connections{state="in_use"}');
    expect(text).toMatch(/^dropspot_outbox_lag_seconds \d/m);
  });

  it('after claims, the counters moved: outcomes, latency, group commits, HTTP by route template, sockets and rooms', async () => {
    const before = await scrape();
    const drop = await createDrop(app, { totalSlots: 3 });
    const users = await createUsers(app, 5);
    await addToWaitlist(app, drop.id, users.map((u) => u.id));
    const watcher = await connected(connect(app.baseUrl, { auth: { token: users[0]!.token } }));
    await request(watcher, 'drop:watch', { dropId: drop.id });
    const answers = await Promise.all(users.map((u) => api('POST', `/api/drops/${drop.id}/claim`, { token: u.token })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 201, 409, 409]);
    const holder = users[answers.findIndex((a) => a.status === 201)]!;
    expect((await api('POST', `/api/drops/${drop.id}/claim`, { token: holder.token })).status).toBe(200);

    const after = await scrape();
    const moved = (name: string, labels?: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved('dropspot_claims_total', { outcome: 'issued' })).toBe(3);
    expect(moved('dropspot_claims_total', { outcome: 'SOLD_OUT' })).toBe(2);
    expect(moved('dropspot_claims_total', { outcome: 'existing' })).toBe(1);
    expect(moved('dropspot_claim_duration_seconds_count')).toBe(6);
    expect(moved('dropspot_claim_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(moved('dropspot_claim_batch_size_sum')).toBe(6);
    expect(moved('dropspot_http_request_duration_seconds_count', { method: 'POST', route: '/api/drops/:id/claim', status: '201' })).toBe(3);
    expect(moved('dropspot_http_request_duration_seconds_count', { method: 'POST', route: '/api/drops/:id/claim', status: '409' })).toBe(2);
    // Raw paths never become labels.
    expect(after).not.toContain(drop.id + '/claim');
    expect(sample(after, 'dropspot_sockets', { namespace: '/' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'dropspot_room_watchers_top', { drop: drop.id })).toBe(1);
    expect(sample(after, 'dropspot_rooms_by_watchers', { le: '+Inf' })).toBeGreaterThanOrEqual(1);
    // The watcher's room got counts after the claims: their delay is measured.
    await expect.poll(async () => sample(await scrape(), 'dropspot_counts_delay_seconds_count') - sample(before, 'dropspot_counts_delay_seconds_count')).toBeGreaterThan(0);
  });

  it('counts a replay of the event stream', async () => {
    const admin = (await createUsers(app, 1, 'ADMIN'))[0]!;
    const before = sample(await scrape(), 'dropspot_stream_replay_pages_total');
    await connected(connect(app.baseUrl, { namespace: '/events', auth: { token: admin.token, lastEventId: 0 } }));
    await expect.poll(async () => sample(await scrape(), 'dropspot_stream_replay_pages_total')).toBeGreaterThan(before);
  });
});

describe('webhook deliveries', () => {
  it('counts each attempt by result and status class: delivered, failed and retried, given up', async () => {
    const admin = (await createUsers(app, 1, 'ADMIN'))[0]!;
    const good = await startReceiver();
    const bad = await startReceiver(() => ({ status: 503 }));
    try {
      const before = await scrape();
      const hooks: string[] = [];
      for (const receiver of [good, bad]) {
        const res = await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url: receiver.url, eventTypes: ['drop.created'] } });
        expect(res.status).toBe(201);
        hooks.push(res.body.id);
      }
      const start = new Date(Date.now() + 3600_000).toISOString();
      const end = new Date(Date.now() + 7200_000).toISOString();
      expect((await api('POST', '/api/admin/drops', { token: admin.token, body: { title: 'Metered', totalSlots: 1, claimWindowStart: start, claimWindowEnd: end } })).status).toBe(201);
      const moved = async (labels: Record<string, string>) => sample(await scrape(), 'dropspot_webhook_deliveries_total', labels) - sample(before, 'dropspot_webhook_deliveries_total', labels);
      await expect.poll(() => moved({ result: 'delivered', status: '2xx' }), { timeout: 15_000 }).toBeGreaterThan(0);
      await expect.poll(() => moved({ result: 'gave-up', status: '5xx' }), { timeout: 15_000 }).toBe(1);
      expect(await moved({ result: 'failed', status: '5xx' })).toBeGreaterThan(0);
      for (const id of hooks) await api('DELETE', `/api/admin/webhooks/${id}`, { token: admin.token });
    } finally {
      await Promise.all([good.close(), bad.close()]);
    }
  });
});

describe('METRICS_PORT: a listener of its own', () => {
  let separate: TestApp;
  beforeAll(async () => {
    separate = await startTestApp({ METRICS_PORT: '0' });
  });
  afterAll(() => separate.close());

  it('serves /metrics there without a token, and nothing on the app port', async () => {
    expect(separate.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const drop = await createDrop(separate, { totalSlots: 1 });
    const [user] = await createUsers(separate, 1);
    await addToWaitlist(separate, drop.id, [user!.id]);
    expect((await fetch(`${separate.baseUrl}/api/drops/${drop.id}/claim`, { method: 'POST', headers: { authorization: `Bearer ${user!.token}` } })).status).toBe(201);
    const text = await scrape(separate.metricsUrl, undefined);
    expect(sample(text, 'dropspot_claims_total', { outcome: 'issued' })).toBe(1);
    expect((await fetch(`${separate.baseUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${separate.metricsUrl}/other`)).status).toBe(404);
    expect((await fetch(`${separate.metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
