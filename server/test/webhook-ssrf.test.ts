import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { WebhookEndpointSchema } from '../src/modules/webhooks/webhook-endpoint.entity.ts';
import { isPublicAddress } from '../src/modules/webhooks/url-guard.ts';
import { createUser, useTestApp } from './support/app.ts';
import { startReceiver } from './support/receiver.ts';

// No WEBHOOK_ALLOW_PRIVATE: the production rule.
const { app, api } = useTestApp({ WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_FOR_SECONDS: '1' });
let admin: Awaited<ReturnType<typeof createUser>>;

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
});

describe('SSRF: endpoints on non-public addresses are refused', () => {
  it('classifies addresses with ipaddr.js: only public unicast passes', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e']) expect(isPublicAddress(address), address).toBe(true);
    const refused = [
      '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255',
      '224.0.0.1', '192.0.2.1', '240.0.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1',
      '64:ff9b::a00:1', '2002:7f00:1::1', '2001:db8::1', 'ff02::1', 'not an address',
    ];
    for (const address of refused) expect(isPublicAddress(address), address).toBe(false);
  });

  it('refuses at registration loopback, private, link-local and mapped addresses, written any way, and names that resolve to them', async () => {
    const hook = await startReceiver();
    const port = new URL(hook.url).port;
    const urls = [
      hook.url,
      `http://localhost:${port}/hook`,
      `http://[::1]:${port}/`,
      'http://10.0.0.1/',
      'http://192.168.0.10/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/',
      'http://0x7f.0.0.1/',
      'http://0/',
      'https://[fd00::1]/',
    ];
    for (const url of urls) {
      const res = await api('POST', '/api/admin/webhooks', { token: admin.token, body: { url, eventTypes: ['drop.created'] } });
      expect(res.status, url).toBe(400);
      expect(res.body.code, url).toBe('WEBHOOK_URL_REFUSED');
    }
    const patchTarget = await app.orm.em.fork().insert(WebhookEndpointSchema, { id: randomUUID(), url: 'https://hooks.example.com/x', eventTypes: ['drop.created'], secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`, enabled: false });
    const patched = await api('PATCH', `/api/admin/webhooks/${patchTarget}`, { token: admin.token, body: { url: `http://localhost:${port}/` } });
    expect(patched.body.code).toBe('WEBHOOK_URL_REFUSED');
    expect((await api('GET', '/api/admin/webhooks', { token: admin.token })).body.items.map((e: { url: string }) => e.url)).toEqual(['https://hooks.example.com/x']);
    expect(hook.received).toHaveLength(0);
    await hook.close();
  });

  it('checks again at delivery time, after resolving the name: a host that now resolves to loopback gets nothing', async () => {
    // Registered while the name pointed elsewhere (here: written straight to the table), it now resolves to 127.0.0.1 / ::1.
    const hook = await startReceiver();
    const port = new URL(hook.url).port;
    const em = app.orm.em.fork();
    const [{ top } = { top: null }] = await em.execute<{ top: string | null }[]>(`select coalesce(max(seq), 0) as top from "outbox_event"`);
    const id = await em.insert(WebhookEndpointSchema, {
      id: randomUUID(),
      url: `http://localhost:${port}/hook`,
      eventTypes: ['drop.created'],
      secret: `whsec_${Buffer.alloc(32, 2).toString('base64')}`,
      enabled: true,
      lastSeq: Number(top),
    });
    const literal = await em.insert(WebhookEndpointSchema, { id: randomUUID(), url: hook.url, eventTypes: ['drop.created'], secret: `whsec_${Buffer.alloc(32, 3).toString('base64')}`, enabled: true, lastSeq: Number(top) });
    const created = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'Rebound', totalSlots: 1, claimWindowStart: new Date(Date.now() + 60_000).toISOString(), claimWindowEnd: new Date(Date.now() + 600_000).toISOString() },
    });
    expect(created.status).toBe(201);
    for (const endpoint of [id, literal]) {
      await vi.waitFor(
        async () => {
          const page = await api('GET', `/api/admin/webhooks/${endpoint}/deliveries`, { token: admin.token });
          expect(page.body.items[0]).toMatchObject({ status: 'FAILED', lastStatus: null });
          expect(page.body.items[0].lastError).toMatch(/^refused: .*(127\.0\.0\.1|::1).* not a public address/);
        },
        { timeout: 10_000, interval: 50 },
      );
    }
    expect(hook.received).toHaveLength(0);
    await hook.close();
  });
});
