import { expect, test } from '@playwright/test';
import { adminApi, adminWindow, claimAsNewUser, createDrop, newAccount, waitLive } from './support.ts';

test('after the connection drops and comes back, the page re-syncs from a fresh snapshot', async ({ page, context, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 10, opensInMs: -1_000, durationMs: 600_000 });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByTestId('remaining')).toHaveText('10');

  await context.setOffline(true);
  await expect(page.getByTestId('connection')).toHaveText(/Reconnecting|Offline/, { timeout: 15_000 });
  // Claims made while this page could not hear about them, and a pause: only the fresh
  // snapshot taken on reconnecting carries the pause (its window event was missed).
  for (let i = 0; i < 3; i += 1) await claimAsNewUser(baseURL!, drop.id);
  await adminWindow(admin, drop.id, 'pause');
  await expect(page.getByTestId('remaining')).toHaveText('10');
  await expect(page.getByTestId('phase')).toHaveText(/Live now/);

  await context.setOffline(false);
  await waitLive(page);
  await expect(page.getByTestId('remaining')).toHaveText('7');
  await expect(page.getByTestId('phase')).toHaveText(/Paused/);
  await admin.dispose();
});

test('a claim that cannot reach the server says so instead of hanging', async ({ page, context, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 10, opensInMs: -1_000, durationMs: 600_000 });
  await page.request.post('/api/auth/signup', { data: newAccount() });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await context.setOffline(true);
  await expect(page.getByTestId('connection')).toHaveText(/Reconnecting|Offline/, { timeout: 15_000 });
  await page.getByRole('button', { name: 'Join and claim' }).click();
  await expect(page.getByTestId('action-error')).toHaveText(/Cannot reach DropSpot/);
  await context.setOffline(false);
  await waitLive(page);
  await page.getByRole('button', { name: 'Join and claim' }).click();
  await expect(page.getByTestId('claim-code')).toBeVisible();
  await expect(page.getByTestId('action-error')).toBeHidden();
  await admin.dispose();
});
