// Type-checked with the WebWorker library (tsconfig.service-worker.json), apart from the pages.
// Shows DropSpot's push notifications and opens the drop when one is clicked. Nothing is cached:
// the app is live, and an offline copy of a drop page would only show stale numbers.
const worker = self as unknown as ServiceWorkerGlobalScope;

interface Message {
  title: string;
  body: string;
  url: string;
  tag: string;
}

worker.addEventListener('install', () => void worker.skipWaiting());
worker.addEventListener('activate', (event) => event.waitUntil(worker.clients.claim()));

worker.addEventListener('push', (event) => {
  let message: Partial<Message>;
  try {
    message = (event.data?.json() ?? {}) as Partial<Message>;
  } catch {
    message = { body: event.data?.text() };
  }
  event.waitUntil(
    worker.registration.showNotification(message.title ?? 'DropSpot', {
      body: message.body ?? '',
      tag: message.tag,
      icon: '/favicon.svg',
      data: { url: message.url ?? '/' },
    }),
  );
});

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  // Only our own pages open from a notification.
  let target = new URL(String((event.notification.data as { url?: string } | null)?.url ?? '/'), worker.location.origin);
  if (target.origin !== worker.location.origin) target = new URL('/', worker.location.origin);
  event.waitUntil(
    (async () => {
      const windows = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((client) => client.url === target.href);
      if (open) return open.focus();
      return worker.clients.openWindow(target.href);
    })(),
  );
});
