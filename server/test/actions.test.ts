import { describe, expect, it } from 'vitest';
import { createDrop, createUser, useTestApp } from './support/app.ts';
import { connect, connected, request } from './support/sockets.ts';

const { app, api } = useTestApp();

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

describe('one path per action: HTTP and sockets answer the same input with the same code', () => {
  it('a malformed drop id is VALIDATION_FAILED and a well-formed unknown one DROP_NOT_FOUND, over HTTP and over a socket', async () => {
    const user = await createUser(app);
    const socket = await connected(connect(app.baseUrl, { auth: { token: user.token } }));
    const actions = [
      { event: 'drop:join', path: 'join' },
      { event: 'drop:leave', path: 'leave' },
      { event: 'drop:claim', path: 'claim' },
    ];
    for (const { event, path } of actions) {
      for (const [id, code] of [['nope', 'VALIDATION_FAILED'], [UNKNOWN, 'DROP_NOT_FOUND']]) {
        const http = await api('POST', `/api/drops/${id}/${path}`, { token: user.token });
        const ack = await request(socket, event, { dropId: id });
        expect([http.body.code, ack.ok ? 'ok' : ack.code], `${event} ${id}`).toEqual([code, code]);
      }
    }
    expect((await api('GET', `/api/drops/nope/position`, { token: user.token })).body.code).toBe('VALIDATION_FAILED');
  });

  it('admin window actions and hold extensions: one schema, its refinement included, on both transports', async () => {
    const admin = await createUser(app, 'ADMIN');
    const drop = await createDrop(app);
    const console_ = await connected(connect(app.baseUrl, { namespace: '/admin', auth: { token: admin.token } }));
    const cases: { body: Record<string, unknown>; id: string; code: string }[] = [
      { body: { action: 'extend' }, id: drop.id, code: 'VALIDATION_FAILED' },
      { body: { action: 'pause' }, id: 'nope', code: 'VALIDATION_FAILED' },
      { body: { action: 'pause' }, id: UNKNOWN, code: 'DROP_NOT_FOUND' },
    ];
    for (const { body, id, code } of cases) {
      const http = await api('POST', `/api/admin/drops/${id}/window`, { token: admin.token, body });
      const ack = await request(console_, 'window:action', { dropId: id, ...body });
      expect([http.body.code, ack.ok ? 'ok' : ack.code], JSON.stringify({ id, body })).toEqual([code, code]);
    }
    const http = await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'extend' } });
    const ack = await request(console_, 'window:action', { dropId: drop.id, action: 'extend' });
    expect(ack.ok ? [] : ack.issues).toEqual(http.body.issues);
    // An unknown drop has no holds to extend: the service says NOT_FOUND, the same on both transports.
    for (const [id, listCode, holdsCode] of [['nope', 'VALIDATION_FAILED', 'VALIDATION_FAILED'], [UNKNOWN, 'DROP_NOT_FOUND', 'NOT_FOUND']]) {
      const holds = await api('POST', `/api/admin/drops/${id}/holds`, { token: admin.token, body: { seconds: 60 } });
      const holdsAck = await request(console_, 'holds:extend', { dropId: id, seconds: 60 });
      const list = await api('GET', `/api/admin/drops/${id}/reservations`, { token: admin.token });
      const listAck = await request(console_, 'reservations:list', { dropId: id });
      expect([list.body.code, listAck.ok || listAck.code, holds.body.code, holdsAck.ok || holdsAck.code], id).toEqual([listCode, listCode, holdsCode, holdsCode]);
    }
  });
});
