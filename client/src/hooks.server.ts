import type { Handle, HandleFetch } from '@sveltejs/kit/hooks';
import { INTERNAL_HOP, type UserView } from '@dropspot/protocol';

/**
 * The API runs in this same process, behind the same port. Server-side loads call it over
 * loopback on the socket the page request arrived on, never through the public address (which
 * may be a proxy, or not resolvable from inside a container), and carry the visitor's cookies.
 */
function internalOrigin(event: Parameters<HandleFetch>[0]['event']): string | undefined {
  const socket = event.platform?.req.socket;
  if (!socket?.localPort || !socket.localAddress) return undefined;
  const address = socket.localAddress.startsWith('::ffff:') ? socket.localAddress.slice(7) : socket.localAddress;
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${socket.localPort}`;
}

export const handleFetch: HandleFetch = async ({ event, request, fetch }) => {
  const url = new URL(request.url);
  const origin = internalOrigin(event);
  if (url.origin !== event.url.origin || !url.pathname.startsWith('/api/') || !origin) return fetch(request);
  const headers = new Headers(request.headers);
  const cookie = event.request.headers.get('cookie');
  if (cookie) headers.set('cookie', cookie);
  const forwarded = event.request.headers.get('user-agent');
  if (forwarded) headers.set('user-agent', forwarded);
  // Whose request this is, for the API's per-address limits and audit log: the visitor's address
  // as Express judged it, believed by the API only next to this process's key
  // (server/src/http/internal-hop.ts).
  const key = (globalThis as Record<symbol, string | undefined>)[INTERNAL_HOP.keySymbol];
  const address = (event.platform?.req as { ip?: string } | undefined)?.ip;
  if (key && address) {
    headers.set(INTERNAL_HOP.keyHeader, key);
    headers.set(INTERNAL_HOP.addressHeader, address);
  }
  const response = await globalThis.fetch(new Request(`${origin}${url.pathname}${url.search}`, { method: request.method, headers, body: request.body, duplex: 'half' } as RequestInit));
  // What the API sets (the session cookies of a login or signup form action, their removal) goes
  // to the browser with the page's own response, with the API's attributes and nothing added.
  for (const header of response.headers.getSetCookie()) {
    const { name, value, ...options } = event.cookies.parse(header, { decode: (raw) => raw });
    event.cookies.set(name, value ?? '', { ...options, path: options.path ?? '/', httpOnly: options.httpOnly ?? false, secure: options.secure ?? false, encode: (raw) => raw });
  }
  return response;
};

/** When the access token runs out (its `exp`), so the page knows when its socket must renew. */
function accessExpiry(token: string): number | null {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

export const handle: Handle = async ({ event, resolve }) => {
  event.locals.user = null;
  event.locals.accessExpiresAt = null;
  const access = event.cookies.get('ds_access');
  if (access) {
    const response = await event.fetch('/api/auth/me');
    if (response.ok) {
      event.locals.user = ((await response.json()) as { user: UserView }).user;
      event.locals.accessExpiresAt = accessExpiry(access);
    }
  }
  return resolve(event);
};
