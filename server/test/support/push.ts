import { createECDH, createPublicKey, randomBytes, randomUUID, verify, type ECDH } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import ece from 'http_ece';
import type { PushMessage } from '@dropspot/protocol';

/** A VAPID key pair as the server's settings want it (uncompressed public point, private scalar; base64url). */
export function vapidKeys(): { VAPID_PUBLIC_KEY: string; VAPID_PRIVATE_KEY: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const d = ecdh.getPrivateKey();
  return { VAPID_PUBLIC_KEY: ecdh.getPublicKey('base64url'), VAPID_PRIVATE_KEY: Buffer.concat([Buffer.alloc(32 - d.length), d]).toString('base64url') };
}

export interface ReceivedPush {
  device: string;
  message: PushMessage;
  headers: IncomingMessage['headers'];
}

export interface TestDevice {
  id: string;
  /** What a browser's `PushSubscription.toJSON()` gives, pointing at this endpoint. */
  subscription: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  /** What the push service answers for this device (201 by default; 410 once the browser unsubscribed). */
  status: number;
}

export interface TestPushService {
  url: string;
  /** Every message delivered (201) so far, decrypted. */
  received: ReceivedPush[];
  /** Requests answered with something else than 201. */
  refused: number;
  device(): TestDevice;
  to(device: TestDevice): PushMessage[];
  close(): Promise<void>;
}

/** Checks the VAPID header (RFC 8292): an ES256 JWT for this origin, signed by the key it names. */
function checkVapid(req: IncomingMessage, origin: string, publicKey: string | undefined): void {
  const match = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(String(req.headers.authorization));
  if (!match) throw new Error(`no VAPID authorization: ${req.headers.authorization}`);
  const [, jwt, key] = match as unknown as [string, string, string];
  if (publicKey && key !== publicKey) throw new Error('VAPID key is not the server’s');
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const point = Buffer.from(key, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') };
  const ok = verify('sha256', Buffer.from(`${header}.${payload}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { aud: string; exp: number; sub: string };
  if (!ok || claims.aud !== origin || claims.exp * 1000 < Date.now() || !claims.sub) throw new Error(`bad VAPID token ${JSON.stringify(claims)}`);
}

/**
 * A push service on loopback: each device is a P-256 key pair and an auth secret this test made
 * (as a browser makes them), and each message posted to its endpoint is checked (VAPID, aes128gcm)
 * and decrypted per RFC 8291 with `http_ece`, ECDH by node:crypto.
 */
export async function startPushService(options: { vapidPublicKey?: string } = {}): Promise<TestPushService> {
  const devices = new Map<string, TestDevice & { ecdh: ECDH; auth: Buffer }>();
  const state = { received: [] as ReceivedPush[], refused: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const device = devices.get(req.url?.split('/').pop() ?? '');
      try {
        if (!device) throw Object.assign(new Error('unknown device'), { status: 404 });
        if (device.status !== 201) throw Object.assign(new Error('refused'), { status: device.status });
        checkVapid(req, url, options.vapidPublicKey);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${req.headers['content-encoding']}`);
        const plain = ece.decrypt(Buffer.concat(chunks), { version: 'aes128gcm', privateKey: device.ecdh, authSecret: device.auth.toString('base64url') });
        state.received.push({ device: device.id, message: JSON.parse(plain.toString('utf8')) as PushMessage, headers: req.headers });
        res.writeHead(201).end();
      } catch (error) {
        state.refused++;
        res.writeHead((error as { status?: number }).status ?? 400).end(String(error));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get received() {
      return state.received;
    },
    get refused() {
      return state.refused;
    },
    device() {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const id = randomUUID();
      const device = {
        id,
        ecdh,
        auth,
        status: 201,
        subscription: { endpoint: `${url}/push/${id}`, expirationTime: null, keys: { p256dh: ecdh.getPublicKey('base64url'), auth: auth.toString('base64url') } },
      };
      devices.set(id, device);
      return device;
    },
    to: (device) => state.received.filter((r) => r.device === device.id).map((r) => r.message),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
