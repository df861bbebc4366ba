/**
 * `npm run screenshots`: the main pages at desktop and phone sizes, saved to docs/screenshots/
 * for the README. Not part of `npm test` (the images change with every run's data and clock).
 */
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, adminApi, claimAsNewUser, createDrop, newAccount, signIn, waitLive } from './support.ts';

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

test('screenshots of the main pages', async ({ page, baseURL }) => {
  test.setTimeout(120_000);
  const admin = await adminApi(baseURL!);
  const live = await createDrop(admin, { title: 'Midnight Runner — launch edition', slots: 40, opensInMs: -60_000, durationMs: 30 * 60_000 });
  await createDrop(admin, { title: 'Trail Jacket restock', slots: 250, opensInMs: 3 * 3600_000 + 12 * 60_000, durationMs: 3600_000 });
  const priority = await createDrop(admin, { title: 'Studio vinyl pressing (priority order)', slots: 200, opensInMs: 26 * 3600_000, durationMs: 3600_000, allocationMode: 'PRIORITY' });
  for (let i = 0; i < 7; i += 1) await claimAsNewUser(baseURL!, live.id);

  const account = newAccount();
  await signIn(page, account, true);
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
  await shoot(page, 'account-notifications', '/account#notifications', async (p) => {
    await expect(p.getByTestId('notification-settings')).toBeVisible();
  });

  await page.request.post('/api/auth/logout', { data: {} });
  await shoot(page, 'login', '/login', async () => {});
  await signIn(page, ADMIN);
  await shoot(page, 'admin-dashboard', '/admin');
  await shoot(page, 'admin-console', `/admin/drops/${live.id}`, async (p) => {
    await waitLive(p);
    await claimAsNewUser(baseURL!, live.id);
    await p.waitForTimeout(2_500);
  });
  await admin.dispose();
});
