import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Namespace } from 'socket.io';
import { openApiChecker, schemaAt } from './support/api-docs.ts';
import { addToWaitlist, createDrop, createUser, createUsers, uniqueEmail, useTestApp, type ApiResponse, type RequestOptions } from './support/app.ts';
import { startFakeChatProvider, type FakeChatProvider } from './support/fake-chat-provider.ts';
import { startReceiver, type TestReceiver } from './support/receiver.ts';
import { routerRoutes } from './support/routes.ts';
import { connect, connected, next, request } from './support/sockets.ts';

/**
 * The API descriptions are generated from the route declarations and the protocol schemas; these
 * tests hold them to the running app: the router and the OpenAPI document list the same routes,
 * real answers (successes and problems) validate against the documented schemas, and the
 * AsyncAPI document names every socket event the protocol declares and the server handles.
 */
// Webhook receivers and the description helper's provider are real servers on loopback.
const env: Record<string, string> = { WEBHOOK_ALLOW_PRIVATE: 'true' };
let provider: FakeChatProvider;
let receiver: TestReceiver;
beforeAll(async () => {
  provider = await startFakeChatProvider();
  receiver = await startReceiver();
  Object.assign(env, { AI_BASE_URL: provider.url, AI_MODEL: 'fake-model' });
});
afterAll(async () => {
  await provider?.close();
  await receiver?.close();
});
const { app, api } = useTestApp(env);
let openapi: Record<string, any>;
let asyncapi: Record<string, any>;
let checker: ReturnType<typeof openApiChecker>;

beforeAll(async () => {
  openapi = (await api('GET', '/api/openapi.json')).body;
  asyncapi = (await api('GET', '/api/asyncapi.json')).body;
  checker = openApiChecker(openapi);
});

/** A request whose answer must match the document; returns it for the test's own assertions. */
async function call(method: string, url: string, options?: RequestOptions): Promise<ApiResponse> {
  const res = await api(method, url, options);
  expect(checker.check(method, url, res), `${method} ${url} → ${res.status}`).toEqual([]);
  return res;
}

/** Express `/api/drops/:id/` → `/api/drops/{id}`, the document's form. */
const asDocumented = (path: string) => (path.replace(/\/+$/, '') || '/').replace(/:(\w+)/g, '{$1}');

describe('OpenAPI: the document and the router agree', () => {
  it('every route in the router is documented, and every documented operation is a route', () => {
    const inRouter = new Set(routerRoutes(app).map((r) => `${r.method} ${asDocumented(r.path)}`));
    const inDoc = new Set(
      Object.entries(openapi.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
    );
    expect(inRouter.size).toBeGreaterThan(40);
    expect([...inRouter].filter((r) => !inDoc.has(r)), 'routes missing from the document').toEqual([]);
    expect([...inDoc].filter((r) => !inRouter.has(r)), 'documented operations the router does not have').toEqual([]);
  });

  it('is OpenAPI 3.1 with named schemas, security and problem answers', () => {
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.components.schemas)).toEqual(expect.arrayContaining(['Drop', 'DropDetail', 'Claim', 'Problem', 'Ranking', 'StreamEvent']));
    const claim = openapi.paths['/api/drops/{id}/claim'].post;
    expect(claim.security).toEqual([{ bearer: [] }, { cookie: [] }]);
    expect(claim.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path' }), expect.objectContaining({ name: 'Idempotency-Key', in: 'header' })]));
    const conflicts = claim.responses['409'].content['application/problem+json'].schema.allOf[1].properties.code.enum;
    expect(conflicts).toEqual(expect.arrayContaining(['SOLD_OUT', 'NOT_ON_WAITLIST', 'WINDOW_CLOSED', 'NOT_YOUR_TURN', 'IDEMPOTENCY_KEY_IN_USE']));
    // The body an admin sends is described from the request schema (its input side).
    const create = openapi.paths['/api/admin/drops'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(expect.arrayContaining(['title', 'totalSlots', 'claimWindowStart', 'claimWindowEnd']));
    expect(create.required).not.toContain('description');
    // An action's body leaves out the drop id, which comes from the path.
    const windowBody = openapi.paths['/api/admin/drops/{id}/window'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(windowBody.properties).sort()).toEqual(['action', 'seconds']);
    expect(openapi.paths['/api/admin/drops/{id}'].patch.security).toEqual([{ bearer: [] }, { cookie: [] }]);
  });
});

describe('OpenAPI: real answers match the documented schemas', () => {
  it('auth, drops, waitlist, claims and the user\'s own data, with their problems', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
    expect((await call('GET', '/api/auth/signup')).status).toBe(200);
    const email = uniqueEmail('doc');
    const signup = await call('POST', '/api/auth/signup', { body: { email, password: 'correct horse battery' } });
    expect(signup.status).toBe(201);
    expect((await call('POST', '/api/auth/signup', { body: { email, password: 'correct horse battery' } })).body.code).toBe('EMAIL_TAKEN');
    expect((await call('POST', '/api/auth/signup', { body: { email: 'nope', password: 'x' } })).body.code).toBe('VALIDATION_FAILED');
    expect((await call('POST', '/api/auth/login', { body: { email, password: 'wrong password!' } })).body.code).toBe('INVALID_CREDENTIALS');
    const login = await call('POST', '/api/auth/login', { body: { email, password: 'correct horse battery' } });
    const token = login.body.accessToken as string;
    expect((await call('GET', '/api/auth/me', { token })).body.user.email).toBe(email);
    expect((await call('GET', '/api/auth/me')).body.code).toBe('UNAUTHENTICATED');
    expect((await call('GET', '/api/auth/me', { token: 'not-a-jwt' })).body.code).toBe('TOKEN_INVALID');
    expect((await call('POST', '/api/auth/refresh', { body: { refreshToken: login.body.refreshToken } })).status).toBe(200);
    expect((await call('GET', '/api/priority')).status).toBe(200);
    expect((await call('GET', '/api/altcha/challenge')).status).toBe(200);

    const drop = await createDrop(app, { totalSlots: 1 });
    const [holder, late] = await createUsers(app, 2);
    expect((await call('GET', '/api/drops?status=live')).body.items.length).toBeGreaterThan(0);
    expect((await call('GET', '/api/drops?pageSize=1000')).body.code).toBe('VALIDATION_FAILED');
    expect((await call('GET', `/api/drops/${drop.id}`)).status).toBe(200);
    expect((await call('GET', '/api/drops/00000000-0000-4000-8000-000000000000')).body.code).toBe('DROP_NOT_FOUND');
    expect((await call('GET', '/api/drops/not-a-uuid')).body.code).toBe('VALIDATION_FAILED');

    expect((await call('POST', `/api/drops/${drop.id}/claim`, { token: holder!.token })).body.code).toBe('NOT_ON_WAITLIST');
    expect((await call('POST', `/api/drops/${drop.id}/join`, { token: holder!.token })).status).toBe(201);
    expect((await call('POST', `/api/drops/${drop.id}/join`, { token: holder!.token })).status).toBe(200);
    expect((await call('GET', `/api/drops/${drop.id}/position`, { token: holder!.token })).body.position).toBe(1);
    expect((await call('GET', `/api/drops/${drop.id}/position`, { token: late!.token })).body.code).toBe('NOT_ON_WAITLIST');
    const claimed = await call('POST', `/api/drops/${drop.id}/claim`, { token: holder!.token, headers: { 'idempotency-key': 'doc-1' } });
    expect(claimed.status).toBe(201);
    expect((await call('POST', `/api/drops/${drop.id}/claim`, { token: holder!.token })).status).toBe(200);
    await addToWaitlist(app, drop.id, [late!.id]);
    expect((await call('POST', `/api/drops/${drop.id}/claim`, { token: late!.token })).body.code).toBe('SOLD_OUT');
    expect((await call('GET', `/api/drops/${drop.id}`, { token: holder!.token })).body.me.claim.code).toBe(claimed.body.claim.code);
    expect((await call('GET', '/api/me/claims', { token: holder!.token })).body.items).toHaveLength(1);
    expect((await call('GET', '/api/me/waitlists', { token: holder!.token })).body.items).toHaveLength(1);
    expect((await call('GET', '/api/me/export', { token: holder!.token })).status).toBe(200);
    expect((await call('POST', `/api/drops/${drop.id}/leave`, { token: late!.token })).body).toEqual({ left: true });
    expect((await call('POST', `/api/drops/${drop.id}/join`, { token: holder!.token, raw: '{"bad json', headers: { 'content-type': 'application/json' } })).body.code).toBe('INVALID_JSON');
    expect((await call('POST', '/api/auth/logout', { token })).status).toBe(204);
  });

  it('admin routes, a PRIORITY line and the event stream, with their problems', async () => {
    const admin = await createUser(app, 'ADMIN');
    const user = await createUser(app);
    const start = new Date(Date.now() + 3600_000).toISOString();
    const end = new Date(Date.now() + 7200_000).toISOString();
    const created = await call('POST', '/api/admin/drops', { token: admin.token, body: { title: 'Documented', totalSlots: 2, claimWindowStart: start, claimWindowEnd: end, allocationMode: 'PRIORITY' } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await call('POST', '/api/admin/drops', { token: admin.token, body: { title: 'x', totalSlots: 0, claimWindowStart: end, claimWindowEnd: start } })).body.code).toBe('VALIDATION_FAILED');
    expect((await call('POST', '/api/admin/drops', { token: user.token, body: {} })).body.code).toBe('FORBIDDEN');
    expect((await call('GET', '/api/admin/drops', { token: admin.token })).status).toBe(200);
    expect((await call('GET', `/api/admin/drops/${id}`, { token: admin.token })).status).toBe(200);
    expect((await call('PATCH', `/api/admin/drops/${id}`, { token: admin.token, body: { description: 'Now described.' } })).body.description).toBe('Now described.');
    expect((await call('GET', `/api/drops/${id}/ranking`)).body.revealed).toBe(false);

    const people = await createUsers(app, 3);
    await addToWaitlist(app, id, people.map((p) => p.id));
    expect((await call('POST', `/api/admin/drops/${id}/window`, { token: admin.token, body: { action: 'open-now' } })).body.window.state).toBe('live');
    expect((await call('POST', `/api/admin/drops/${id}/window`, { token: admin.token, body: { action: 'extend' } })).body.code).toBe('VALIDATION_FAILED');
    const ranking = await call('GET', `/api/drops/${id}/ranking`, { token: people[0]!.token });
    expect(ranking.body).toMatchObject({ revealed: true, allocationMode: 'PRIORITY' });
    expect((await call('GET', `/api/drops/${id}/ranking`, { token: people[0]!.token, headers: { 'if-none-match': ranking.headers.get('etag')! } })).status).toBe(304);
    expect((await call('GET', `/api/admin/drops/${id}/reservations`, { token: admin.token })).body.counts.GRANTED).toBe(2);
    expect((await call('POST', `/api/admin/drops/${id}/holds`, { token: admin.token, body: { seconds: 60 } })).body.extended).toBe(2);
    expect((await call('POST', `/api/drops/${id}/claim`, { token: await userWith(id, people, 'WAITING') })).body.code).toBe('NOT_YOUR_TURN');
    const holder = await userWith(id, people, 'GRANTED');
    const code = (await call('POST', `/api/drops/${id}/claim`, { token: holder })).body.claim.code as string;
    expect((await call('POST', `/api/admin/claims/${code}/redeem`, { token: admin.token })).body.claim.status).toBe('USED');
    expect((await call('POST', `/api/admin/claims/${code}/redeem`, { token: admin.token })).body.code).toBe('ALREADY_REDEEMED');
    expect((await call('POST', '/api/admin/claims/nope/redeem', { token: admin.token })).body.code).toBe('CODE_NOT_FOUND');
    expect((await call('GET', '/api/admin/audit?pageSize=5', { token: admin.token })).body.items.length).toBeGreaterThan(0);
    expect((await call('GET', '/api/admin/audit.csv', { token: admin.token })).status).toBe(200);

    const apiToken = await call('POST', '/api/admin/api-tokens', { token: admin.token, body: { name: 'docs' } });
    expect(apiToken.status).toBe(201);
    expect((await call('GET', '/api/admin/api-tokens', { token: admin.token })).body.items.length).toBeGreaterThan(0);
    expect((await call('GET', '/api/admin/events?limit=5', { token: apiToken.body.token })).body.items.length).toBeGreaterThan(0);
    expect((await call('GET', '/api/admin/events', { token: user.token })).body.code).toBe('FORBIDDEN');
    expect((await call('DELETE', `/api/admin/api-tokens/${apiToken.body.id}`, { token: admin.token })).status).toBe(204);
    expect((await call('DELETE', `/api/admin/drops/${id}`, { token: admin.token })).status).toBe(204);
    expect((await call('GET', `/api/admin/drops/${id}`, { token: admin.token })).body.code).toBe('DROP_NOT_FOUND');
  });

  it('webhooks, the description helper (its event stream) and the calendar file, with their problems', async () => {
    const admin = await createUser(app, 'ADMIN');
    const user = await createUser(app);
    const created = await call('POST', '/api/admin/webhooks', { token: admin.token, body: { url: receiver.url, eventTypes: ['drop.created'] } });
    expect(created.body.secret).toMatch(/^whsec_/);
    const hook = created.body.id as string;
    expect((await call('POST', '/api/admin/webhooks', { token: admin.token, body: { url: 'http://someone:secret@127.0.0.1/hook', eventTypes: ['drop.created'] } })).body.code).toBe('WEBHOOK_URL_REFUSED');
    expect((await call('POST', '/api/admin/webhooks', { token: user.token, body: {} })).body.code).toBe('FORBIDDEN');
    expect((await call('GET', '/api/admin/webhooks', { token: admin.token })).body.items.length).toBeGreaterThan(0);
    expect((await call('PATCH', `/api/admin/webhooks/${hook}`, { token: admin.token, body: { description: 'docs' } })).body.description).toBe('docs');
    expect((await call('GET', '/api/admin/webhooks/00000000-0000-4000-8000-000000000000', { token: admin.token })).body.code).toBe('NOT_FOUND');

    const start = new Date(Date.now() + 3600_000).toISOString();
    const end = new Date(Date.now() + 7200_000).toISOString();
    const drop = (await call('POST', '/api/admin/drops', { token: admin.token, body: { title: 'Hooked', totalSlots: 1, claimWindowStart: start, claimWindowEnd: end } })).body;
    await vi.waitFor(async () => expect((await api('GET', `/api/admin/webhooks/${hook}/deliveries?status=DELIVERED`, { token: admin.token })).body.total).toBeGreaterThan(0), { timeout: 15_000, interval: 100 });
    const delivered = (await call('GET', `/api/admin/webhooks/${hook}/deliveries?status=DELIVERED`, { token: admin.token })).body.items[0];
    expect(delivered.status).toBe('DELIVERED');
    expect((await call('POST', `/api/admin/webhooks/${hook}/deliveries/${delivered.id}/redeliver`, { token: admin.token })).body.code).toBe('DELIVERY_NOT_FAILED');
    expect((await call('POST', `/api/admin/webhooks/${hook}/redeliver`, { token: admin.token })).body).toEqual({ redelivered: 0, expired: 0 });
    expect((await call('DELETE', `/api/admin/webhooks/${hook}`, { token: admin.token })).status).toBe(204);

    const ics = await call('GET', `/api/drops/${drop.id}/calendar.ics`);
    expect(ics.headers.get('content-type')).toMatch(/^text\/calendar/);
    expect(ics.body).toContain('BEGIN:VEVENT');
    expect((await call('GET', '/api/drops/00000000-0000-4000-8000-000000000000/calendar.ics')).body.code).toBe('DROP_NOT_FOUND');

    expect((await call('GET', '/api/admin/ai', { token: admin.token })).body.configured).toBe(true);
    const suggestion = await call('POST', '/api/admin/ai/description', { token: admin.token, body: { title: 'Hand-made mugs' } });
    expect(suggestion.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(suggestion.body).toMatch(/event: delta[\s\S]*event: done/);
    expect((await call('POST', '/api/admin/ai/description', { token: admin.token, body: { title: '' } })).body.code).toBe('VALIDATION_FAILED');
    expect((await call('POST', '/api/admin/ai/description', { token: user.token, body: { title: 'x' } })).body.code).toBe('FORBIDDEN');
    provider.behave({ kind: 'status', status: 500 });
    expect((await call('POST', '/api/admin/ai/description', { token: admin.token, body: { title: 'Hand-made mugs' } })).body.code).toBe('AI_UNAVAILABLE');
  });

  it('notification settings and Web Push subscriptions, with their problems', async () => {
    const user = await createUser(app);
    const settings = await call('GET', '/api/me/notifications', { token: user.token });
    expect(Object.keys(settings.body.preferences).length).toBeGreaterThan(0);
    const changed = await call('PATCH', '/api/me/notifications', { token: user.token, body: { preferences: { 'window-opened': { email: false } } } });
    expect(changed.body.preferences['window-opened'].email).toBe(false);
    expect((await call('PATCH', '/api/me/notifications', { token: user.token, body: { preferences: { nonsense: {} } } })).body.code).toBe('VALIDATION_FAILED');
    const keys = { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) };
    expect((await call('POST', '/api/me/push-subscriptions', { token: user.token, body: { endpoint: 'https://push.example.com/send/abc', keys } })).body.code).toBe('PUSH_ENDPOINT_REFUSED');
    const endpoint = 'https://fcm.googleapis.com/fcm/send/api-docs';
    expect((await call('POST', '/api/me/push-subscriptions', { token: user.token, body: { endpoint, keys } })).body.push.devices).toBe(1);
    expect((await call('DELETE', '/api/me/push-subscriptions', { token: user.token, body: { endpoint } })).body.push.devices).toBe(0);
    expect((await call('GET', '/api/me/notifications')).body.code).toBe('UNAUTHENTICATED');
  });

  it('covered a representative set of operations', () => {
    console.log(`api-docs: real answers of ${checker.covered.size} operations validated against the document`);
    expect(checker.covered.size).toBeGreaterThanOrEqual(45);
  });

  it('the check fails for an answer that is not as documented', async () => {
    const real = await api('GET', '/api/priority');
    expect(checker.check('GET', '/api/priority', real)).toEqual([]);
    const withExtra = { ...real, body: { ...real.body, secret: 'leaked' } };
    expect(checker.check('GET', '/api/priority', withExtra).join()).toMatch(/additional/);
    const { seed: _seed, ...missing } = real.body;
    expect(checker.check('GET', '/api/priority', { ...real, body: missing }).join()).toMatch(/required/);
    expect(checker.check('GET', '/api/priority', { ...real, status: 418 }).join()).toMatch(/not documented/);
    expect(checker.check('GET', '/api/nowhere', real).join()).toMatch(/no such path/);
    const problem = await api('GET', '/api/drops/00000000-0000-4000-8000-000000000000');
    expect(checker.check('GET', '/api/drops/x', { ...problem, body: { ...problem.body, code: 'SOLD_OUT' } }).join()).toMatch(/allowed values/);
  });
});

/** The token of a ranked user whose reservation has this status (each asks for their own). */
async function userWith(dropId: string, people: { token: string }[], status: 'WAITING' | 'GRANTED'): Promise<string> {
  for (const p of people) {
    const me = (await api('GET', `/api/drops/${dropId}`, { token: p.token })).body.me;
    if (me?.reservation?.status === status) return p.token;
  }
  throw new Error(`nobody's reservation is ${status}`);
}

describe('the reference page', () => {
  it('serves Scalar from this origin under a CSP that allows nothing from elsewhere', async () => {
    const page = await call('GET', '/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.body).toContain('/api/docs/scalar.js');
    expect(page.body).toContain('/api/openapi.json');
    expect(page.body).not.toMatch(/https?:\/\/(?!json-schema\.org)/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self'( 'sha256-[^']+')+;/);
    expect(csp).not.toMatch(/https?:|\*|'unsafe-eval'/);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    const bundle = await call('GET', '/api/docs/scalar.js');
    expect(bundle.status).toBe(200);
    expect(String(bundle.body).length).toBeGreaterThan(100_000);
  });
});

/** The event names each typed event map in protocol/src/events.ts declares, read from its source. */
function protocolEventMaps(): Record<string, string[]> {
  const file = new URL('../../protocol/src/events.ts', import.meta.url);
  const source = ts.createSourceFile('events.ts', readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const maps: Record<string, string[]> = {};
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text.endsWith('Events')) {
      maps[node.name.text] = node.members.map((m) => (m.name && (ts.isStringLiteral(m.name) || ts.isIdentifier(m.name)) ? m.name.text : '?'));
    }
  });
  return maps;
}

/** The string literals of an exported `const NAME = [...] as const` in a protocol source file. */
function protocolList(fileName: string, name: string): string[] {
  const source = ts.createSourceFile(fileName, readFileSync(new URL(`../../protocol/src/${fileName}`, import.meta.url), 'utf8'), ts.ScriptTarget.Latest);
  let found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === name && node.initializer) {
      found = [];
      const collect = (n: ts.Node) => {
        if (ts.isStringLiteral(n)) found.push(n.text);
        n.forEachChild(collect);
      };
      collect(node.initializer);
    }
    node.forEachChild(visit);
  };
  visit(source);
  return found;
}

describe('AsyncAPI: the Socket.IO events', () => {
  const messagesOf = (channel: string, action: 'send' | 'receive') =>
    Object.values(asyncapi.operations as Record<string, any>)
      .filter((op) => op.channel.$ref === `#/channels/${channel}` && op.action === action)
      .map((op) => asyncapi.channels[channel].messages[op.messages[0].$ref.split('/').pop()].name as string)
      .sort();

  it('lists every event of every namespace in protocol, both ways, each received one with its ack', () => {
    expect(asyncapi.asyncapi).toBe('3.0.0');
    const maps = protocolEventMaps();
    const expected: [string, 'send' | 'receive', string][] = [
      ['public', 'send', 'ServerToClientEvents'],
      ['public', 'receive', 'ClientToServerEvents'],
      ['admin', 'send', 'AdminServerToClientEvents'],
      ['admin', 'receive', 'AdminClientToServerEvents'],
      ['events', 'send', 'EventsServerToClientEvents'],
    ];
    for (const [channel, action, map] of expected) {
      expect(maps[map], map).toBeDefined();
      expect(messagesOf(channel, action), `${channel} ${action} = ${map}`).toEqual([...maps[map]!].sort());
    }
    expect(Object.values(asyncapi.channels).map((c: any) => c.address).sort()).toEqual(['/', '/admin', '/events']);
    for (const op of Object.values(asyncapi.operations as Record<string, any>).filter((o) => o.action === 'receive')) expect(op.reply.messages).toHaveLength(1);
  });

  it('names every domain event type of the stream and every window event type', () => {
    const domainTypes = protocolList('stream.ts', 'DOMAIN_EVENT_TYPES');
    expect(domainTypes.length).toBeGreaterThan(15);
    expect(asyncapi.components.schemas.StreamEvent.properties.type.enum.sort()).toEqual([...domainTypes].sort());
    const windowTypes = protocolList('events.ts', 'WINDOW_EVENT_TYPES');
    expect(asyncapi.channels.public.messages['drop:window'].payload.properties.type.enum.sort()).toEqual([...windowTypes].sort());
  });

  it('documents every handler the server has on / and /admin', async () => {
    const admin = await createUser(app, 'ADMIN');
    for (const [namespace, channel] of [['/', 'public'], ['/admin', 'admin']] as const) {
      const socket = await connected(connect(app.baseUrl, { namespace, auth: { token: admin.token } }));
      const serverSide = (app.realtime.io.of(namespace) as unknown as Namespace).sockets.get(socket.id!)!;
      const handled = serverSide.eventNames().map(String).filter((name) => !['disconnect', 'disconnecting', 'error'].includes(name));
      expect(handled.sort(), namespace).toEqual(messagesOf(channel, 'receive'));
    }
  });

  it('real payloads and acks validate against the documented schemas', async () => {
    const check = schemaAt(asyncapi, 'asyncapi');
    const message = (channel: string, key: string) => ['channels', channel, 'messages', key, 'payload'];
    const drop = await createDrop(app, { totalSlots: 5 });
    const user = await createUser(app);
    await addToWaitlist(app, drop.id, [user.id]);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    const watched = await request(socket, 'drop:watch', { dropId: drop.id });
    expect(check(message('public', 'drop:watch.ack'), watched)).toEqual([]);
    const counts = next(socket, 'drop:counts', (c: { claimed: number }) => c.claimed === 1);
    const mine = next(socket, 'me:claim');
    const claimed = await request(socket, 'drop:claim', { dropId: drop.id });
    expect(claimed.ok).toBe(true);
    expect(check(message('public', 'drop:claim.ack'), claimed)).toEqual([]);
    expect(check(message('public', 'drop:counts'), await counts)).toEqual([]);
    expect(check(message('public', 'me:claim'), await mine)).toEqual([]);
    const refused = await request(socket, 'drop:claim', { dropId: 'nope' });
    expect(refused).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
    expect(check(message('public', 'drop:claim.ack'), refused)).toEqual([]);
    // A payload that breaks the schema fails: the check can fail.
    expect(check(message('public', 'drop:counts'), { dropId: drop.id })).not.toEqual([]);
  });
});
