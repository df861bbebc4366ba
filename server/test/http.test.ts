import type { RequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { DropSchema } from '../src/modules/drops/drop.entity.ts';
import { type RequestOptions, client, createUser, startTestApp, useTestApp } from './support/app.ts';
import { connect, connected, request } from './support/sockets.ts';

const { app, api } = useTestApp({ BODY_LIMIT: '2kb' });

describe('health', () => {
  it('/healthz is alive and /readyz checks the database', async () => {
    expect((await api('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await api('GET', '/readyz')).body).toEqual({ status: 'ready', database: 'up', redis: 'off' });
  });
});

describe('hardening', () => {
  it('answers unknown routes with 404 problem+json and a request id', async () => {
    const res = await api('GET', '/api/nothing-here', { headers: { 'x-request-id': 'trace-123' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ code: 'NOT_FOUND', status: 404, requestId: 'trace-123', instance: '/api/nothing-here' });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect((await api('GET', '/api/drops')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers every unknown /api path and method with problem+json, before the web client and any origin check', async () => {
    // What SvelteKit does with a path it does not know: an HTML page for a GET, and a text/plain 403
    // for a cross-site POST (its CSRF check). Under /api, none of that may be the answer.
    const webClient: RequestHandler = (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') res.status(403).type('text/plain').send('Cross-site POST form submissions are forbidden');
      else res.status(404).type('html').send('<!doctype html><title>Not found</title>');
    };
    const withClient = await startTestApp({}, undefined, undefined, webClient);
    try {
      const call = client(withClient.baseUrl);
      const user = await createUser(withClient);
      expect((await call('GET', '/some/page')).headers.get('content-type')).toContain('text/html');
      const cases: [string, string, RequestOptions][] = [
        ['GET', '/api/nothing-here', {}],
        ['GET', '/api/drops/00000000-0000-4000-8000-000000000000/nothing', {}],
        ['POST', '/api/nothing-here', { headers: { origin: 'https://evil.example' } }],
        ['POST', '/api/nothing-here', { token: user.token, body: { a: 1 } }],
        ['PUT', '/api/drops', { headers: { origin: 'https://evil.example' } }],
        ['DELETE', '/api/auth/nothing', {}],
        ['PATCH', '/api', {}],
      ];
      for (const [method, path, options] of cases) {
        const res = await call(method, path, options);
        expect([method, path, res.status, res.headers.get('content-type'), res.body?.code]).toEqual([method, path, 404, 'application/problem+json; charset=utf-8', 'NOT_FOUND']);
        expect(res.body.instance).toBe(path);
      }
      // A cross-site request carrying our cookies is refused by the API's own origin check, in problem+json too.
      const crossSite = await call('POST', '/api/nothing-here', { headers: { origin: 'https://evil.example', cookie: 'ds_refresh=x' } });
      expect([crossSite.status, crossSite.headers.get('content-type'), crossSite.body.code]).toEqual([403, 'application/problem+json; charset=utf-8', 'CSRF_REJECTED']);
    } finally {
      await withClient.close();
    }
  });

  it('sets security headers (helmet)', async () => {
    const res = await api('GET', '/api/drops');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('refuses malformed JSON, oversized bodies and other content types with 4xx codes, never a stack', async () => {
    const admin = await createUser(app, 'ADMIN');
    const before = await app.orm.em.fork().count(DropSchema, {});
    const broken = await api('POST', '/api/admin/drops', { token: admin.token, raw: '{"title":', headers: { 'content-type': 'application/json' } });
    expect([broken.status, broken.body.code]).toEqual([400, 'INVALID_JSON']);
    const huge = await api('POST', '/api/admin/drops', { token: admin.token, body: { title: 'x'.repeat(5000) } });
    expect([huge.status, huge.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const form = await api('POST', '/api/admin/drops', { token: admin.token, raw: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([form.status, form.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const scalar = await api('POST', '/api/admin/drops', { token: admin.token, raw: '"just a string"', headers: { 'content-type': 'application/json' } });
    expect(scalar.status).toBe(400);
    const array = await api('POST', '/api/auth/signup', { body: [1, 2, 3] });
    expect([array.status, array.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    for (const res of [broken, huge, form, scalar, array]) {
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    }
    expect(await app.orm.em.fork().count(DropSchema, {})).toBe(before);
  });

  it('answers odd input from the URL, cookies and text fields with 4xx, never 500', async () => {
    const admin = await createUser(app, 'ADMIN');
    expect((await api('GET', '/api/drops/%E0%A4%A')).status).toBe(400);
    expect((await api('POST', '/api/admin/claims/%ZZ/redeem', { token: admin.token })).status).toBe(400);
    for (const value of ['j:{"a":1}', 'j:123', 'j:[1]']) {
      const res = await api('POST', '/api/auth/refresh', { headers: { cookie: `ds_refresh=${encodeURIComponent(value)}; ds_access=${encodeURIComponent(value)}` } });
      expect([res.status, res.body.code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    }
    const gzipLie = await api('POST', '/api/auth/login', { raw: '{"email":"a@b.c"}', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(gzipLie.status).toBeGreaterThanOrEqual(400);
    expect(gzipLie.status).toBeLessThan(500);
    const nul = await api('POST', '/api/admin/drops', {
      token: admin.token,
      body: { title: 'bad\u0000title', totalSlots: 1, claimWindowStart: new Date(Date.now() + 60_000).toISOString(), claimWindowEnd: new Date(Date.now() + 120_000).toISOString() },
    });
    expect([nul.status, nul.body.issues?.[0]?.path]).toEqual([400, 'title']);
  });

  it('refuses a lone surrogate in any string of a JSON body or socket payload with VALIDATION_FAILED on that field, never a 500', async () => {
    const admin = await createUser(app, 'ADMIN');
    const user = await createUser(app);
    const drops = await app.orm.em.fork().count(DropSchema, {});
    const window = { claimWindowStart: new Date(Date.now() + 60_000).toISOString(), claimWindowEnd: new Date(Date.now() + 120_000).toISOString() };
    // PostgreSQL refuses it in jsonb (the outbox event), which was a 500.
    const title = await api('POST', '/api/admin/drops', { token: admin.token, body: { title: 'x\ud800y', totalSlots: 1, ...window } });
    expect([title.status, title.body.code, title.body.issues]).toEqual([400, 'VALIDATION_FAILED', [expect.objectContaining({ path: 'title' })]]);
    expect(await app.orm.em.fork().count(DropSchema, {})).toBe(drops);
    // Anywhere in a body, also where no schema looks: nested in arrays, or in a key.
    const nested = await api('POST', '/api/auth/logout', { body: { extra: [{ fine: 'ok', deep: '\udc00' }] } });
    expect([nested.status, nested.body.code, nested.body.issues]).toEqual([400, 'VALIDATION_FAILED', [expect.objectContaining({ path: 'extra.0.deep' })]]);
    const key = await api('POST', '/api/auth/logout', { body: { inner: { ['k\ud800']: 1 } } });
    expect([key.status, key.body.code, key.body.issues]).toEqual([400, 'VALIDATION_FAILED', [expect.objectContaining({ path: 'inner' })]]);
    // A password would have been hashed with replacement characters in its place.
    const email = `surrogate-${Date.now()}@test.dropspot`;
    const signup = await api('POST', '/api/auth/signup', { body: { email, password: '\ud800'.repeat(12) } });
    expect([signup.status, signup.body.code, signup.body.issues]).toEqual([400, 'VALIDATION_FAILED', [expect.objectContaining({ path: 'password' })]]);
    // Socket payloads, also of events that take none.
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    for (const [event, payload, path] of [
      ['drops:watch', { note: 'x\ud800' }, 'note'],
      ['drop:watch', { dropId: '00000000-0000-4000-8000-000000000000', extra: ['\udfff'] }, 'extra.0'],
    ] as const) {
      const ack = await request(socket, event, payload);
      expect([event, ack]).toEqual([event, expect.objectContaining({ ok: false, code: 'VALIDATION_FAILED', issues: [expect.objectContaining({ path })] })]);
    }
    // The URL cannot carry one: percent-decoding refuses what is not UTF-8.
    expect((await api('GET', '/api/drops/%ED%A0%80')).status).toBe(400);
    expect((await api('GET', '/api/drops?status=%ED%A0%80')).status).toBe(400);
  });

  it('answers CORS preflights only for configured origins', async () => {
    const corsApp = await startTestApp({ CORS_ORIGINS: 'https://shop.example' });
    try {
      const allowed = await fetch(`${corsApp.baseUrl}/api/drops`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
      const refused = await fetch(`${corsApp.baseUrl}/api/drops`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await corsApp.close();
    }
  });

  it('limits claims per user with 429 and Retry-After', async () => {
    const limited = await startTestApp({ RATE_LIMIT_CLAIM_PER_MINUTE: '2' });
    try {
      const user = await createUser(limited);
      const call = () => client(limited.baseUrl)('POST', '/api/drops/00000000-0000-4000-8000-000000000000/claim', { token: user.token });
      expect((await call()).status).toBe(404);
      expect((await call()).status).toBe(404);
      const third = await call();
      expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
