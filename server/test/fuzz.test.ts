import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@dropspot/protocol';
import { addToWaitlist, createDrop, createUser, useTestApp } from './support/app.ts';
import { connect, connected } from './support/sockets.ts';

/**
 * Property-based bad input over every HTTP endpoint and every socket event: whatever arrives,
 * the answer is a 2xx or a 4xx problem with a stable code (never a 5xx, never a hang), and a
 * refused request changes nothing in the database.
 */
// Rate limits are tested elsewhere; here every event must reach validation.
const { app } = useTestApp({}, { eventsPerSecond: 100_000, eventsPerIpPerSecond: 100_000, floodStrikes: 100_000 });
let admin: Awaited<ReturnType<typeof createUser>>;
let user: Awaited<ReturnType<typeof createUser>>;
let dropId: string;
const counted = { http: 0, socket: 0 };

beforeAll(async () => {
  admin = await createUser(app, 'ADMIN');
  user = await createUser(app);
  dropId = (await createDrop(app, { totalSlots: 1000 })).id;
  await addToWaitlist(app, dropId, [user.id]);
});
afterAll(async () => {
  console.log(`fuzz: ${counted.http} HTTP requests and ${counted.socket} socket events with generated bad input`);
});

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

/** Text with a lone UTF-16 surrogate: JSON's `\u` escapes carry one, but it is not Unicode and PostgreSQL refuses it. */
const illFormed = fc
  .tuple(fc.string({ maxLength: 10 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 10 }))
  .map(([before, unit, after]) => before + String.fromCharCode(unit) + after);

/** Whether a value holds ill-formed Unicode anywhere (a string or a key): such input is always VALIDATION_FAILED. */
const hasIllFormed = (value: unknown): boolean =>
  typeof value === 'string'
    ? !value.isWellFormed()
    : typeof value === 'object' && value !== null && Object.entries(value).some(([key, item]) => !key.isWellFormed() || hasIllFormed(item));

/** Everything a client could send as a JSON value, weighted toward the nasty. */
const nasty = fc.oneof(
  fc.jsonValue(),
  illFormed,
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('', ' ', '\u0000', '\uFEFF', '𝕯𝖗𝖔𝖕', 'x'.repeat(20_000), '2026-02-30T10:00:00Z', '9999-99-99', '-1', '1e309', 'NaN', 'null', 'true', '{}', '[]'),
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e308, -0, 0.5, -1),
  fc.boolean(),
  fc.constant(null),
);

const bodyFor = (fields: string[]) =>
  fc.oneof(
    nasty,
    fc.array(nasty, { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...fields, '__proto__', 'constructor', 'role', 'extra'), illFormed), nasty, { maxKeys: fields.length + 2 }),
  );

/** Path ids: random, malformed, and (except for deletes) the real drop, so bodies reach deep validation. */
const idLike = (includeReal: boolean) =>
  fc.oneof(
    fc.uuid(),
    // %ED%A0%80 is U+D800 encoded as if it were a character: not UTF-8.
    fc.constantFrom('00000000-0000-4000-8000-000000000000', 'null', '..', '%00', 'a'.repeat(300), '1', '%ED%A0%80', 'x%ED%B0%80y'),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    ...(includeReal ? [fc.constant(dropId)] : []),
  );

type Who = 'anon' | 'user' | 'admin';
const endpoints: { method: string; path: (id: string) => string; who: Who; fields: string[] }[] = [
  { method: 'POST', path: () => '/api/auth/signup', who: 'anon', fields: ['email', 'password', 'altcha'] },
  { method: 'POST', path: () => '/api/auth/login', who: 'anon', fields: ['email', 'password'] },
  { method: 'POST', path: () => '/api/auth/refresh', who: 'anon', fields: ['refreshToken'] },
  { method: 'POST', path: () => '/api/auth/logout', who: 'anon', fields: ['refreshToken'] },
  { method: 'GET', path: () => '/api/auth/me', who: 'user', fields: [] },
  { method: 'POST', path: () => '/api/auth/password', who: 'user', fields: ['currentPassword', 'newPassword'] },
  { method: 'POST', path: () => '/api/auth/verify-email', who: 'anon', fields: ['token'] },
  { method: 'POST', path: () => '/api/auth/verify-email/resend', who: 'user', fields: [] },
  { method: 'POST', path: () => '/api/auth/forgot-password', who: 'anon', fields: ['email'] },
  { method: 'POST', path: () => '/api/auth/reset-password', who: 'anon', fields: ['token', 'newPassword'] },
  { method: 'POST', path: () => '/api/me/email', who: 'user', fields: ['currentPassword', 'email'] },
  { method: 'GET', path: () => '/api/admin/mailbox', who: 'admin', fields: [] },
  { method: 'GET', path: () => '/api/me/waitlists', who: 'user', fields: [] },
  { method: 'GET', path: () => '/api/me/export', who: 'user', fields: [] },
  { method: 'DELETE', path: () => '/api/me', who: 'user', fields: ['currentPassword'] },
  { method: 'GET', path: (id) => `/api/drops?status=${id}&page=${id}&pageSize=${id}`, who: 'anon', fields: [] },
  { method: 'GET', path: (id) => `/api/drops/${id}`, who: 'user', fields: [] },
  { method: 'POST', path: (id) => `/api/drops/${id}/join`, who: 'user', fields: ['altcha'] },
  { method: 'POST', path: (id) => `/api/drops/${id}/leave`, who: 'user', fields: [] },
  { method: 'GET', path: (id) => `/api/drops/${id}/position`, who: 'user', fields: [] },
  { method: 'POST', path: (id) => `/api/drops/${id}/claim`, who: 'user', fields: [] },
  { method: 'GET', path: () => '/api/me/claims', who: 'user', fields: [] },
  { method: 'GET', path: () => '/api/me/notifications', who: 'user', fields: [] },
  { method: 'PATCH', path: () => '/api/me/notifications', who: 'user', fields: ['preferences'] },
  { method: 'POST', path: () => '/api/me/push-subscriptions', who: 'user', fields: ['endpoint', 'expirationTime', 'keys'] },
  { method: 'DELETE', path: () => '/api/me/push-subscriptions', who: 'user', fields: ['endpoint'] },
  { method: 'GET', path: () => '/api/priority', who: 'anon', fields: [] },
  { method: 'GET', path: (id) => `/api/admin/drops?status=${id}`, who: 'admin', fields: [] },
  { method: 'GET', path: (id) => `/api/drops/${id}/ranking`, who: 'user', fields: [] },
  { method: 'GET', path: (id) => `/api/drops/${id}/calendar.ics`, who: 'anon', fields: [] },
  { method: 'POST', path: () => '/api/admin/drops', who: 'admin', fields: ['title', 'description', 'imageUrl', 'totalSlots', 'claimWindowStart', 'claimWindowEnd', 'isActive', 'allocationMode', 'holdSeconds', 'requirePow', 'openingShuffleSeconds'] },
  { method: 'GET', path: (id) => `/api/admin/drops/${id}`, who: 'admin', fields: [] },
  { method: 'PATCH', path: (id) => `/api/admin/drops/${id}`, who: 'admin', fields: ['title', 'totalSlots', 'claimWindowStart', 'claimWindowEnd', 'isActive', 'imageUrl', 'allocationMode', 'holdSeconds', 'requirePow', 'openingShuffleSeconds'] },
  { method: 'GET', path: (id) => `/api/admin/drops/${id}/reservations`, who: 'admin', fields: [] },
  { method: 'POST', path: (id) => `/api/admin/drops/${id}/holds`, who: 'admin', fields: ['seconds'] },
  { method: 'DELETE', path: (id) => `/api/admin/drops/${id}`, who: 'admin', fields: [] },
  { method: 'POST', path: (id) => `/api/admin/drops/${id}/window`, who: 'admin', fields: ['action', 'seconds'] },
  { method: 'POST', path: (id) => `/api/admin/claims/${id}/redeem`, who: 'admin', fields: [] },
  { method: 'GET', path: (id) => `/api/admin/events?after=${id}&limit=${id}`, who: 'admin', fields: [] },
  { method: 'POST', path: () => '/api/admin/api-tokens', who: 'admin', fields: ['name'] },
  { method: 'DELETE', path: (id) => `/api/admin/api-tokens/${id}`, who: 'admin', fields: [] },
  { method: 'GET', path: (id) => `/api/admin/audit?dropId=${id}&action=${id}&page=${id}&pageSize=${id}&format=${id}`, who: 'admin', fields: [] },
  { method: 'GET', path: (id) => `/api/admin/audit.csv?dropId=${id}&action=${id}`, who: 'admin', fields: [] },
  { method: 'GET', path: () => '/api/admin/ai', who: 'admin', fields: [] },
  { method: 'POST', path: () => '/api/admin/ai/description', who: 'admin', fields: ['title', 'description', 'allocationMode', 'totalSlots'] },
  { method: 'GET', path: () => '/api/admin/webhooks', who: 'admin', fields: [] },
  { method: 'POST', path: () => '/api/admin/webhooks', who: 'admin', fields: ['url', 'eventTypes', 'description', 'enabled'] },
  { method: 'GET', path: (id) => `/api/admin/webhooks/${id}`, who: 'admin', fields: [] },
  { method: 'PATCH', path: (id) => `/api/admin/webhooks/${id}`, who: 'admin', fields: ['url', 'eventTypes', 'description', 'enabled'] },
  { method: 'DELETE', path: (id) => `/api/admin/webhooks/${id}`, who: 'admin', fields: [] },
  { method: 'GET', path: (id) => `/api/admin/webhooks/${id}/deliveries?status=${id}&page=${id}&pageSize=${id}`, who: 'admin', fields: [] },
  { method: 'POST', path: (id) => `/api/admin/webhooks/${id}/redeliver`, who: 'admin', fields: [] },
  { method: 'POST', path: (id) => `/api/admin/webhooks/${id}/deliveries/${id}/redeliver`, who: 'admin', fields: [] },
];

/** Row counts of every table a request could change. */
async function fingerprint(): Promise<string> {
  const [row] = await app.orm.em.fork().execute(
    `select (select count(*) from "user") u, (select count(*) from "drop") d, (select coalesce(sum(claimed), 0) from "drop") c,
            (select max(updated_at) from "drop") du, (select count(*) from "waitlist") w, (select count(*) from "claim") cl,
            (select count(*) from "claim" where status = 'USED') used, (select count(*) from "session" where revoked_at is null) s,
            (select count(*) from "api_token" where revoked_at is null) t, (select count(*) from "outbox_event") o,
            (select count(*) from "audit_log") a, (select count(*) from "webhook_endpoint") we,
            (select count(*) from "webhook_delivery" where status = 'PENDING') wd, (select count(*) from "push_subscription") ps,
            (select count(*) || ':' || coalesce(max(updated_at)::text, '') from "notification_preference") np`,
  );
  return JSON.stringify(row);
}

const mode = fc.constantFrom('json', 'raw', 'form', 'none');
const rawText = fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('{', '{"a":', '[1,2', 'null', '"x"', '\u0000', '{"email":"a@b.c"}}'));

describe('every HTTP endpoint', () => {
  it.each(endpoints.map((e) => [`${e.method} ${e.path(':id')}`, e] as const))('%s answers bad input with 4xx problems and changes nothing', async (_name, endpoint) => {
    const token = endpoint.who === 'admin' ? admin.token : endpoint.who === 'user' ? user.token : undefined;
    await fc.assert(
      fc.asyncProperty(idLike(endpoint.method !== 'DELETE'), bodyFor(endpoint.fields), mode, rawText, async (id, body, how, raw) => {
        const headers: Record<string, string> = {};
        if (token) headers.authorization = `Bearer ${token}`;
        let payload: string | undefined;
        if (endpoint.method !== 'GET') {
          if (how === 'json') {
            headers['content-type'] = 'application/json';
            payload = JSON.stringify(body);
          } else if (how === 'raw') {
            headers['content-type'] = 'application/json';
            payload = raw;
          } else if (how === 'form') {
            headers['content-type'] = 'application/x-www-form-urlencoded';
            payload = `a=${encodeURIComponent(String(raw))}`;
          }
        }
        const before = await fingerprint();
        const res = await fetch(app.baseUrl + endpoint.path(id), { method: endpoint.method, headers, body: payload, signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        counted.http += 1;
        expect(res.status, `${endpoint.method} ${endpoint.path(id)} ${payload?.slice(0, 200)} -> ${text.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 400) {
          const problem = JSON.parse(text) as { code: string };
          expect(ERROR_CODES).toContain(problem.code);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          expect(await fingerprint()).toBe(before);
        }
        if (payload !== undefined && how === 'json' && hasIllFormed(body)) {
          // A bare string is not a JSON body this API takes at all (strict parsing).
          const refusals = typeof body === 'object' && body !== null ? ['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE'] : ['INVALID_JSON'];
          expect(refusals, `${endpoint.method} ${endpoint.path(id)} -> ${text.slice(0, 300)}`).toContain(JSON.parse(text).code);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('every socket event', () => {
  const events: [string, string][] = [
    ['/', 'auth'],
    ['/', 'drops:watch'],
    ['/', 'drops:unwatch'],
    ['/', 'drop:watch'],
    ['/', 'drop:unwatch'],
    ['/', 'drop:join'],
    ['/', 'drop:leave'],
    ['/', 'drop:claim'],
    ['/admin', 'window:action'],
    ['/admin', 'holds:extend'],
    ['/admin', 'reservations:list'],
  ];

  it.each(events)('%s %s acks bad payloads with stable codes and the server stays up', async (namespace, event) => {
    const socket = await connected(connect(app.baseUrl, { namespace, auth: { token: namespace === '/admin' ? admin.token : user.token } }));
    await fc.assert(
      // Payloads over the 16 KiB limit close the connection by design (tested in realtime.test.ts).
      fc.asyncProperty(bodyFor(['dropId', 'token', 'action', 'seconds']).filter((p) => JSON.stringify(p ?? null).length < 15_000), async (payload) => {
        const before = await fingerprint();
        const ack = await socket.timeout(5000).emitWithAck(event, payload);
        counted.socket += 1;
        if (hasIllFormed(payload)) expect(ack).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
        if (!ack.ok) {
          expect(ERROR_CODES).toContain(ack.code);
          expect(ack.code).not.toBe('INTERNAL');
          expect(await fingerprint()).toBe(before);
        }
      }),
      { numRuns: RUNS },
    );
    expect(socket.connected).toBe(true);
  });
});
