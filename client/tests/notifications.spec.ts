import { expect, test } from '@playwright/test';
import { startPushService, type TestPushService } from '../../server/test/support/push.ts';
import { adminApi, adminWindow, createDrop, newAccount, signIn, waitLive } from './support.ts';

let pushService: TestPushService;
test.beforeAll(async () => {
  pushService = await startPushService();
});
test.afterAll(async () => {
  await pushService?.close();
});

test('a user turns on notifications for this device in the drop room and gets the push when the window opens', async ({ browser, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 3, opensInMs: 60 * 60_000, title: 'Pushed Drop' });
  const device = pushService.device();
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: baseURL! });
  await signIn(context, newAccount(), true);
  expect((await context.request.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();

  // The one stand-in: headless Chromium here cannot reach a real push service (FCM), so
  // `PushManager.subscribe` could never succeed. Before the page loads, the test gives its
  // PushManager a subscription that points at the test's own push endpoint on loopback, with a
  // key pair and auth secret the test made (as a browser would). Everything else is real: the
  // permission prompt, SvelteKit's service worker, the page posting the subscription to the
  // server, the server encrypting (RFC 8291) and signing (VAPID) the push, and its delivery.
  await context.addInitScript((subscription) => {
    let current: PushSubscription | null = null;
    const make = () =>
      ({
        endpoint: subscription.endpoint,
        expirationTime: null,
        options: { userVisibleOnly: true, applicationServerKey: null },
        toJSON: () => subscription,
        getKey: () => null,
        unsubscribe: async () => ((current = null), true),
      }) as unknown as PushSubscription;
    PushManager.prototype.subscribe = async function () {
      current = make();
      return current;
    };
    PushManager.prototype.getSubscription = async function () {
      return current;
    };
  }, device.subscription);

  const page = await context.newPage();
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  const line = page.getByTestId('notify-line');
  await expect(line).toContainText('You will not be notified about this drop');
  await line.getByRole('button', { name: 'Notify me on this device' }).click();
  await expect(line).toContainText('You will be notified on this device');
  await expect(line.getByRole('link', { name: 'Change notifications' })).toHaveAttribute('href', '/account#notifications');

  await adminWindow(admin, drop.id, 'open-now');
  await expect.poll(() => pushService.to(device).length, { timeout: 20_000 }).toBe(1);
  const message = pushService.to(device)[0]!;
  expect(message).toMatchObject({ title: 'Pushed Drop is open', tag: `${drop.id}:window-opened` });
  expect(new URL(message.url).pathname).toBe(`/drops/${drop.id}`);

  // The decrypted message handed to the page's real service worker (DevTools protocol) shows as a notification.
  const cdp = await context.newCDPSession(page);
  const registrationId = new Promise<string>((resolve) =>
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r) => r.scopeURL.startsWith(baseURL!) && !r.isDeleted);
      if (ours) resolve(ours.registrationId);
    }),
  );
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: new URL(baseURL!).origin, registrationId: await registrationId, data: JSON.stringify(message) });
  await expect
    .poll(() => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, url: (n.data as { url: string }).url }))))
    .toEqual([{ title: 'Pushed Drop is open', body: message.body, url: message.url }]);

  await context.close();
  await admin.dispose();
});

test('the account page’s notification grid saves without JavaScript, and with it', async ({ browser }) => {
  for (const javaScriptEnabled of [false, true]) {
    const context = await browser.newContext({ javaScriptEnabled });
    await signIn(context, newAccount(), true);
    const page = await context.newPage();
    await page.goto('/account#notifications');
    const grid = page.getByTestId('notification-settings');
    const openedByEmail = grid.getByRole('checkbox', { name: 'Email: The claim window opened' });
    const codeByPush = grid.getByRole('checkbox', { name: 'Push: Your claim is confirmed (with the code)' });
    await expect(openedByEmail).toBeChecked();
    await openedByEmail.uncheck();
    await codeByPush.uncheck();
    await grid.getByRole('button', { name: 'Save notifications' }).click();
    await expect(grid.getByRole('status')).toHaveText('Saved.');
    const saved = await (await context.request.get('/api/me/notifications')).json();
    expect(saved.preferences['window-opened']).toEqual({ email: false, push: true });
    expect(saved.preferences['claim-confirmed']).toEqual({ email: true, push: false });
    await page.reload();
    await expect(grid.getByRole('checkbox', { name: 'Email: The claim window opened' })).not.toBeChecked();
    await expect(grid.getByRole('checkbox', { name: 'Email: The claim window opens soon' })).toBeChecked();
    await context.close();
  }
});
