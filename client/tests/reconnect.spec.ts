import { expect, test } from '@playwright/test';
import { adminApi, claimAsNewUser, createDrop, waitLive } from './support.ts';

test('after the connection drops and comes back, the page re-syncs from a fresh snapshot', async ({ page, context, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 10, opensInMs: -1_000, durationMs: 600_000 });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByTestId('remaining')).toHaveText('10');

  await context.setOffline(true);
  await expect(page.getByTestId('connection')).toHaveText(/Reconnecting|Offline/, { timeout: 15_000 });
  // Claims made while this page could not hear about them.
  for (let i = 0; i < 3; i += 1) await claimAsNewUser(baseURL!, drop.id);
  await expect(page.getByTestId('remaining')).toHaveText('10');

  await context.setOffline(false);
  await waitLive(page);
  await expect(page.getByTestId('remaining')).toHaveText('7');
  await admin.dispose();
});
