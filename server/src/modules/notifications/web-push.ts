import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import webpush from 'web-push';
import type { PushMessage, PushSubscriptionBody } from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { DomainError } from '../../domain/errors.ts';

export interface StoredSubscription {
  id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** What the push service said: delivered, gone for good (404/410: remove it), or try again later. */
export type PushOutcome = 'delivered' | 'gone' | 'retry';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Which endpoints the server will post to. A subscription's endpoint is a URL the browser got
 * from its push service, but it reaches us from the client, so it could name any host: only
 * https URLs on the configured push services' hosts pass (no IP literals, no other ports), and
 * loopback http only where tests allow it. Anything else is 400 `PUSH_ENDPOINT_REFUSED`.
 */
export function checkEndpoint(config: Readonly<Config>, endpoint: string): void {
  const url = new URL(endpoint);
  const host = url.hostname.toLowerCase();
  if (config.push.allowLoopback && LOOPBACK.has(host) && (url.protocol === 'http:' || url.protocol === 'https:')) return;
  const known = config.push.serviceHosts.some((allowed) => (allowed.startsWith('*.') ? host.endsWith(allowed.slice(1)) : host === allowed));
  if (url.protocol !== 'https:' || url.port !== '' || url.username || url.password || isIP(host.replace(/^\[|\]$/g, '')) !== 0 || !known) {
    throw new DomainError('PUSH_ENDPOINT_REFUSED', 'Push notifications can only be sent to a browser push service over https.');
  }
}

/** The subscription as the browser gave it, in the form stored. */
export function toStored(body: PushSubscriptionBody): Omit<StoredSubscription, 'id'> {
  return { endpoint: body.endpoint, p256dh: body.keys.p256dh, auth: body.keys.auth };
}

/**
 * Sends one push message with `web-push` (RFC 8291 payload encryption, RFC 8292 VAPID). The
 * request is built by `web-push` and posted with fetch, so a test's loopback http endpoint is
 * reached the same way as a push service. `topic` makes the push service keep only the newest
 * undelivered message with the same topic: a retried send replaces, never doubles, one that is
 * still waiting for the device.
 */
export function createPushSender(config: Readonly<Config>) {
  const vapid = config.push.vapid;
  return {
    enabled: !!vapid,
    publicKey: vapid?.publicKey ?? null,
    async send(subscription: StoredSubscription, message: PushMessage, topicKey: string, ttlSeconds: number): Promise<PushOutcome> {
      if (!vapid) return 'retry';
      const details = webpush.generateRequestDetails(
        { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
        JSON.stringify(message),
        {
          vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
          TTL: Math.max(0, Math.round(ttlSeconds)),
          urgency: 'high',
          topic: createHash('sha256').update(topicKey).digest('base64url').slice(0, 32),
        },
      );
      const response = await fetch(details.endpoint, {
        method: details.method,
        headers: details.headers as Record<string, string>,
        body: details.body ?? undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.status === 404 || response.status === 410) return 'gone';
      if (response.status >= 200 && response.status < 300) return 'delivered';
      return 'retry';
    },
  };
}

export type PushSender = ReturnType<typeof createPushSender>;
