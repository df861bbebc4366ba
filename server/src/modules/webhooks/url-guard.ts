import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { DomainError } from '../../domain/errors.ts';

/** How long registration waits for a name to resolve. */
const RESOLVE_TIMEOUT_MS = 5000;

/**
 * Whether an address is on the public internet. ipaddr.js classifies it (IPv4-mapped IPv6 is
 * read as the IPv4 it carries); only plain `unicast` passes: private, loopback, link-local,
 * carrier-grade NAT, unique-local, multicast, reserved, documentation, benchmarking, 6to4, Teredo,
 * NAT64 and the rest are refused.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** A delivery or registration refused because of where the URL leads. */
export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
}

function refusal(host: string, address: string): RefusedAddressError {
  return new RefusedAddressError(`${host} resolves to ${address}, which is not a public address`);
}

/** The hostname of a URL without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The URL's form: http(s), no credentials in it. */
export function checkUrlShape(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DomainError('WEBHOOK_URL_REFUSED', 'The webhook URL is not a valid URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DomainError('WEBHOOK_URL_REFUSED', 'A webhook URL must be http:// or https://.');
  if (url.username || url.password) throw new DomainError('WEBHOOK_URL_REFUSED', 'A webhook URL must not carry a user name or password.');
  return url;
}

/**
 * At registration: the URL's form, then every address its host resolves to must be public
 * (unless `allowPrivate`). Delivery checks again (see `guardedLookup`), since DNS can change.
 */
export async function assertDeliverableUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  const url = checkUrlShape(raw);
  const host = bareHost(url);
  if (isIP(host)) {
    if (!allowPrivate && !isPublicAddress(host)) throw new DomainError('WEBHOOK_URL_REFUSED', `${host} is not a public address.`);
    return url;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await new Promise<LookupAddress[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out')), RESOLVE_TIMEOUT_MS);
      dnsLookup(host, { all: true }, (error, found) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(found);
      });
    });
  } catch {
    throw new DomainError('WEBHOOK_URL_REFUSED', `${host} does not resolve.`);
  }
  if (addresses.length === 0) throw new DomainError('WEBHOOK_URL_REFUSED', `${host} does not resolve.`);
  const bad = allowPrivate ? undefined : addresses.find((entry) => !isPublicAddress(entry.address));
  if (bad) throw new DomainError('WEBHOOK_URL_REFUSED', `${refusal(host, bad.address).message}.`);
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that resolves the host and refuses the connection when any of its
 * addresses is not public, so the socket only ever connects to an address that was checked (no
 * window for DNS rebinding between a check and the connect).
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = allowPrivate ? undefined : addresses.find((entry) => !isPublicAddress(entry.address));
      if (bad) return callback(refusal(hostname, bad.address), []);
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** Before connecting to a URL whose host is an address (no lookup happens then): the same rule. */
export function checkLiteralHost(url: URL, allowPrivate: boolean): void {
  const host = bareHost(url);
  if (isIP(host) && !allowPrivate && !isPublicAddress(host)) throw new RefusedAddressError(`${host} is not a public address`);
}
