/**
 * `npm run screenshots`: the main pages at desktop and phone sizes, saved to docs/screenshots/
 * for the README. Not part of `npm test` (the images change with every run's data and clock).
 * The verification and reset pages are reached from the real links in the development mailbox.
 */
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, adminApi, claimAsNewUser, createDrop, linkFromMailbox, newAccount, newSignedInPage, signIn, waitLive } from './support.ts';

const OUT = path.resolve(import.meta.dirname, '../../docs/screenshots');
const SIZES = { desktop: { width: 1280, height: 860 }, phone: { width: 360, height: 780 } } as const;

test.describe.configure({ mode: 'serial' });

async function shoot(page: Page, name: string, url: string, ready: (page: Page) => Promise<void> = waitLive) {
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    await page.goto(url);
    await ready(page);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(OUT, `${name}-${size}.png`), fullPage: size === 'desktop' });
  }
}

test('screenshots of the main pages', async ({ page, browser, baseURL }) => {
  test.setTimeout(300_000);
  const admin = await adminApi(baseURL!);
  const live = await createDrop(admin, { title: 'Midnight Runner — launch edition', slots: 40, opensInMs: -60_000, durationMs: 30 * 60_000 });
  await createDrop(admin, { title: 'Trail Jacket restock', slots: 250, opensInMs: 3 * 3600_000 + 12 * 60_000, durationMs: 3600_000 });
  const priority = await createDrop(admin, { title: 'Studio vinyl pressing (priority order)', slots: 200, opensInMs: 26 * 3600_000, durationMs: 3600_000, allocationMode: 'PRIORITY' });
  const draw = await createDrop(admin, { title: 'Festival passes (random draw)', slots: 50, opensInMs: 2 * 24 * 3600_000, durationMs: 3600_000, allocationMode: 'DRAW', holdSeconds: 900 });
  for (let i = 0; i < 7; i += 1) await claimAsNewUser(baseURL!, live.id);

  const account = newAccount();
  await signIn(page, account, true);
  // Just signed up: the account page asks the person to open the link we mailed ("check your mail").
  await shoot(page, 'verify-email-pending', '/account', async (p) => {
    // On a phone the notice is below the password form: the picture is about the notice.
    await p.getByTestId('verify-notice').scrollIntoViewIfNeeded();
    await expect(p.getByTestId('verify-notice')).toBeInViewport();
  });
  const mailbox = await newSignedInPage(browser, ADMIN);
  const verifyLink = await linkFromMailbox(mailbox, account.email, /confirm your email address/);
  await shoot(page, 'verify-email', verifyLink, async (p) => {
    await expect(p.getByRole('button', { name: 'Confirm my address' })).toBeVisible();
  });
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await expect(page.getByTestId('verified')).toBeVisible();
  await shoot(page, 'verify-email-done', '/verify-email', async (p) => {
    await expect(p.getByTestId('verified')).toBeVisible();
  });
  await page.request.post(`/api/drops/${live.id}/join`);
  await shoot(page, 'drops', '/');
  await shoot(page, 'drop-room', `/drops/${live.id}`);
  await page.request.post(`/api/drops/${live.id}/claim`);
  await shoot(page, 'drop-room-claimed', `/drops/${live.id}`, async (p) => {
    await expect(p.getByTestId('claim-code')).toBeVisible();
  });
  await shoot(page, 'my-claims', '/me');
  await page.request.post(`/api/drops/${priority.id}/join`);
  await shoot(page, 'drop-room-priority', `/drops/${priority.id}`);
  await page.request.post(`/api/drops/${draw.id}/join`);
  await shoot(page, 'drop-room-draw', `/drops/${draw.id}`);
  await shoot(page, 'account-notifications', '/account#notifications', async (p) => {
    await expect(p.getByTestId('notification-settings')).toBeVisible();
  });

  await page.request.post('/api/auth/logout', { data: {} });
  await shoot(page, 'login', '/login', async () => {});
  await shoot(page, 'forgot-password', '/forgot-password', async (p) => {
    await p.getByLabel('Email').fill(account.email);
    await p.getByRole('button', { name: 'Mail me a link' }).click();
    await expect(p.getByTestId('forgot-sent')).toBeVisible();
  });
  const resetLink = await linkFromMailbox(mailbox, account.email, /reset your password/);
  await mailbox.context().close();
  await shoot(page, 'reset-password', resetLink, async (p) => {
    await expect(p.getByLabel('New password')).toBeVisible();
  });
  await signIn(page, ADMIN);
  await shoot(page, 'admin-dashboard', '/admin');
  await shoot(page, 'admin-console', `/admin/drops/${live.id}`, async (p) => {
    await waitLive(p);
    await claimAsNewUser(baseURL!, live.id);
    await p.waitForTimeout(2_500);
  });
  await admin.dispose();
});

test('screenshots of the webhook pages', async ({ page, baseURL }) => {
  test.setTimeout(120_000);
  const { startReceiver } = await import('../../server/test/support/receiver.ts');
  // One receiver that answers, one that is down (its deliveries retry, then fail).
  const up = await startReceiver();
  const down = await startReceiver(() => ({ status: 503, body: 'maintenance' }));
  const admin = await adminApi(baseURL!);
  const ok = await admin.post('/api/admin/webhooks', { data: { url: up.url, eventTypes: ['claim.issued', 'drop.created', 'drop.updated'], description: 'Warehouse sync' } });
  await admin.post('/api/admin/webhooks', { data: { url: down.url, eventTypes: ['drop.created'], description: 'Analytics (down)' } });
  const endpoint = (await ok.json()) as { id: string };
  for (const title of ['Court Classic — white', 'Court Classic — black']) await createDrop(admin, { title });
  await expect.poll(() => up.received.length).toBe(2);
  await signIn(page, ADMIN);
  await shoot(page, 'admin-webhooks', '/admin/webhooks', async (p) => {
    await expect(p.getByRole('heading', { name: 'Webhooks' })).toBeVisible();
  });
  await shoot(page, 'admin-webhook-deliveries', `/admin/webhooks/${endpoint.id}`, async (p) => {
    await expect(p.getByTestId('delivery').first()).toContainText('Delivered');
  });
  await admin.dispose();
  await up.close();
  await down.close();
});

test('screenshot of the API reference', async ({ page }) => {
  await shoot(page, 'api-reference', '/api/docs', async (p) => {
    await expect(p.getByRole('heading', { name: 'DropSpot API' })).toBeVisible({ timeout: 30_000 });
  });
});
