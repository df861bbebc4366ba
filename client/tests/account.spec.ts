import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { AccountExport } from '@dropspot/protocol';
import { adminApi, claimAsNewUser, createDrop, newAccount, signIn, waitLive } from './support.ts';

test('a user changes their password, downloads their data and deletes the account; the slot goes back', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 3, opensInMs: -1_000, durationMs: 600_000 });
  const account = newAccount();
  await signIn(page, account, true);
  await page.request.post(`/api/drops/${drop.id}/join`);
  await page.request.post(`/api/drops/${drop.id}/claim`);

  await page.goto('/account');
  await page.getByLabel('Current password').first().fill('not-my-password');
  await page.getByLabel('New password').fill('another-long-password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('#currentPassword-error')).toHaveText(/wrong/);
  await page.getByLabel('Current password').first().fill(account.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('Password changed.')).toBeVisible();

  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download my data' }).click();
  const exported = JSON.parse(readFileSync((await (await download).path())!, 'utf8')) as AccountExport;
  expect(exported.user.email).toBe(account.email);
  expect(exported.claims).toHaveLength(1);
  expect(exported.claims[0]!.dropId).toBe(drop.id);

  // Someone watches the drop while the account goes away.
  const watcher = await page.context().browser()!.newPage();
  await watcher.goto(`/drops/${drop.id}`);
  await waitLive(watcher);
  await expect(watcher.getByTestId('remaining')).toHaveText('2');

  const deleteButton = page.getByRole('button', { name: 'Delete my account' });
  await expect(deleteButton).toBeDisabled();
  await page.locator('#deletePassword').fill('another-long-password');
  await page.getByLabel('I understand this cannot be undone.').check();
  await deleteButton.click();
  await expect(page).toHaveURL(/\/\?deleted=1$/);
  await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();
  await expect(watcher.getByTestId('remaining')).toHaveText('3');
  expect((await page.request.post('/api/auth/login', { data: { email: account.email, password: 'another-long-password' } })).status()).toBe(401);
  await watcher.close();
  await admin.dispose();
});

test('a refused change of email shows its error next to its own field, keeps the typed address and focuses what to fix', async ({ page }) => {
  const account = newAccount();
  await signIn(page, account, true);
  const newEmail = newAccount().email;

  await page.goto('/account');
  await page.getByLabel('New email').fill(newEmail);
  await page.locator('#emailPassword').fill('not-my-password');
  await page.getByRole('button', { name: 'Change email' }).click();
  await expect(page.locator('#emailPassword-error')).toHaveText(/wrong/);
  await expect(page.locator('#emailPassword')).toBeFocused();
  await expect(page.getByLabel('New email')).toHaveValue(newEmail);
  // The change-password form on the same page is not the one refused.
  await expect(page.locator('#currentPassword-error')).toHaveCount(0);

  await page.locator('#emailPassword').fill(account.password);
  await page.getByRole('button', { name: 'Change email' }).click();
  await expect(page.getByText(`Changed to ${newEmail}`)).toBeVisible();
  await expect(page.getByTestId('email-status')).toHaveText(`${newEmail}: not confirmed yet.`);
});

test('the audit log records admin actions, filters by drop and exports CSV', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 2, opensInMs: 60_000, title: `Audited ${Date.now()}` });
  const claim = await (async () => {
    await admin.post(`/api/admin/drops/${drop.id}/window`, { data: { action: 'open-now' } });
    return claimAsNewUser(baseURL!, drop.id);
  })();
  await admin.post(`/api/admin/claims/${claim.code}/redeem`);

  await signIn(page, { email: 'e2e-admin@dropspot.test', password: 'e2e-admin-password' });
  await page.goto(`/admin/drops/${drop.id}`);
  await waitLive(page);
  await page.getByRole('button', { name: 'Pause' }).click();
  const rows = page.getByRole('region', { name: 'Audit log' }).getByTestId('audit-row');
  await expect(rows.first()).toContainText('window.pause');
  await expect(rows).toHaveCount(4); // create, open-now, redeem, pause

  await page.goto(`/admin/audit?dropId=${drop.id}`);
  await expect(page.getByTestId('audit-row')).toHaveCount(4);
  await page.getByLabel('Action').selectOption('claim.redeem');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=claim.redeem/);
  await expect(page.getByTestId('audit-row')).toHaveCount(1);
  await expect(page.getByTestId('audit-row')).toContainText(claim.code);

  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Export CSV' }).click();
  const csv = readFileSync((await (await download).path())!, 'utf8');
  expect(csv.split('\n')[0]).toMatch(/^id,at,actorId,actorEmail,actorIp,action,dropId,targetId,details/);
  expect(csv).toContain('claim.redeem');
  expect(csv).not.toContain('window.pause');
  await admin.dispose();
});
