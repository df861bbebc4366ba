import { z } from 'zod';
import { ackSchema, SOCKET_NAMESPACES, type SocketEventDoc } from '@dropspot/protocol/api';
import { createSchemaConverter } from './json-schema.ts';

const CHANNEL_IDS: Record<keyof typeof SOCKET_NAMESPACES, string> = { '/': 'public', '/admin': 'admin', '/events': 'events' };
/** JSON Pointer escaping for a key inside a `$ref`. */
const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The AsyncAPI 3 document of the Socket.IO namespaces, generated from protocol's
 * `SOCKET_NAMESPACES` (tied at compile time to the typed event maps the server and client use).
 * It describes this server: what it sends, what it receives and the ack it replies with.
 */
export function buildAsyncApi(info: { version: string }): Record<string, unknown> {
  const schemas = createSchemaConverter('#/components/schemas/');
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};

  for (const [address, ns] of Object.entries(SOCKET_NAMESPACES)) {
    const channelId = CHANNEL_IDS[address as keyof typeof SOCKET_NAMESPACES];
    const channelRef = { $ref: `#/channels/${channelId}` };
    const messages: Record<string, unknown> = {};
    const message = (key: string, name: string, doc: SocketEventDoc, payload: unknown) => {
      if (messages[key]) throw new Error(`${address}: two messages named ${key}`);
      messages[key] = { name, summary: doc.summary, ...(payload ? { payload } : {}) };
      return { $ref: `#/channels/${channelId}/messages/${pointer(key)}` };
    };

    for (const [event, doc] of Object.entries(ns.send)) {
      operations[`${channelId}.send.${event}`] = {
        action: 'send',
        channel: channelRef,
        summary: doc.summary,
        messages: [message(event, event, doc, doc.payload ? schemas.convert(doc.payload, 'output') : undefined)],
      };
    }
    for (const [event, doc] of Object.entries(ns.receive)) {
      const request = message(event, event, doc, doc.payload ? schemas.convert(doc.payload, 'input') : undefined);
      const ack = message(`${event}.ack`, `${event} (ack)`, { summary: `The acknowledgement of ${event}.` }, schemas.convert(ackSchema(doc.ack ?? z.null()), 'output'));
      operations[`${channelId}.receive.${event}`] = {
        action: 'receive',
        channel: channelRef,
        summary: doc.summary,
        messages: [request],
        reply: { channel: channelRef, messages: [ack] },
      };
    }
    channels[channelId] = {
      address,
      title: address === '/' ? 'Default namespace' : `Namespace ${address}`,
      description: `${ns.description} The handshake's \`auth\` is described by x-handshake-auth.`,
      'x-handshake-auth': schemas.convert(ns.auth, 'input'),
      messages,
    };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'DropSpot live events (Socket.IO 4)',
      version: info.version,
      description:
        'Socket.IO 4 on the same server and port as the HTTP API (path /socket.io). Each event is one Socket.IO message whose first argument is the payload; events the server receives take an acknowledgement callback, answered `{ok: true, data}` or `{ok: false, code, message, …}` with the HTTP API\'s error codes. Refused handshakes get a connect_error whose data.code says why (UNAUTHENTICATED, FORBIDDEN, TOO_MANY_CONNECTIONS).',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { schemas: schemas.components() },
  };
}
