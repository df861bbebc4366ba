import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import { INTERNAL_HOP } from '@dropspot/protocol';

/**
 * The web client's server-side loads and form actions call the API over loopback from this very
 * process (client/src/hooks.server.ts). Seen from the API every such request comes from
 * 127.0.0.1: the per-address limits (sign-up, log-in) would count all visitors as one, and the
 * audit log would record the server as the admin's address. So the hop says whose request it
 * carries (the visitor's address as Express judged it, `trust proxy` included), and the API
 * believes it only next to this process's key, which is random, never leaves memory and is read
 * by the client through a global symbol (both run in this process).
 */
function processKey(): string {
  const holder = globalThis as Record<symbol, string | undefined>;
  const key = holder[INTERNAL_HOP.keySymbol] ?? randomBytes(32).toString('hex');
  holder[INTERNAL_HOP.keySymbol] = key;
  return key;
}

/** Gives a request from the in-process client its visitor's address as `req.ip`; anything else is left alone. */
export function internalHop(): RequestHandler {
  const expected = Buffer.from(processKey());
  return (req, _res, next) => {
    const key = Buffer.from(req.get(INTERNAL_HOP.keyHeader) ?? '');
    const address = req.get(INTERNAL_HOP.addressHeader) ?? '';
    if (key.length === expected.length && timingSafeEqual(key, expected) && isIP(address)) {
      Object.defineProperty(req, 'ip', { value: address, configurable: true, enumerable: true });
    }
    next();
  };
}
