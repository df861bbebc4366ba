import type { NotificationSettingsView } from '@dropspot/protocol';
import { api } from './api.ts';

/** Whether this browser can receive Web Push at all (a service worker, the Push API, notifications). */
export function pushSupported(): boolean {
  return typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The service worker SvelteKit registers at start (src/service-worker.ts); undefined when none is ready within a few seconds. */
async function registration(): Promise<ServiceWorkerRegistration | undefined> {
  if (!pushSupported()) return undefined;
  return Promise.race([navigator.serviceWorker.ready, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000))]);
}

/** This browser's push subscription, if it has one. */
export async function deviceSubscription(): Promise<PushSubscription | null> {
  const reg = await registration();
  return (await reg?.pushManager.getSubscription()) ?? null;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Why turning push on did not work, in words for the page. */
export class PushProblem extends Error {
  override name = 'PushProblem';
}

/**
 * "Notify me on this device": asks for permission, subscribes this browser with the server's
 * VAPID key and hands the subscription to the server, which then pushes to it.
 */
export async function enableDevicePush(publicKey: string): Promise<NotificationSettingsView> {
  if (!pushSupported()) throw new PushProblem('This browser cannot receive push notifications.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new PushProblem('Notifications are blocked for this site: allow them in the browser’s site settings, then try again.');
  const reg = await registration();
  if (!reg) throw new PushProblem('This browser could not start the notification service. Reload the page and try again.');
  let subscription = await reg.pushManager.getSubscription();
  try {
    subscription ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  } catch {
    throw new PushProblem('This browser could not reach its push service. Try again later.');
  }
  return api<NotificationSettingsView>('/api/me/push-subscriptions', { method: 'POST', body: subscription.toJSON() });
}

/** "Stop on this device": the server forgets it, and the browser drops the subscription. */
export async function disableDevicePush(): Promise<NotificationSettingsView | undefined> {
  const subscription = await deviceSubscription();
  if (!subscription) return undefined;
  const settings = await api<NotificationSettingsView>('/api/me/push-subscriptions', { method: 'DELETE', body: { endpoint: subscription.endpoint } });
  await subscription.unsubscribe().catch(() => false);
  return settings;
}
