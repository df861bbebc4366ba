import { expect, test } from '@playwright/test';
import { ADMIN, adminApi, adminWindow, claimAsNewUser, createDrop, newAccount, signIn, waitLive } from './support.ts';

test('a visitor sees the countdown tick and the remaining bar move live', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 5, opensInMs: 2_500, durationMs: 120_000 });

  await page.goto('/');
  await waitLive(page);
  const card = page.locator(`[data-drop-id="${drop.id}"]`);
  const countdown = card.getByTestId('countdown');
  const first = await countdown.textContent();
  await expect(countdown).not.toHaveText(first!, { timeout: 3_000 });

  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByTestId('remaining')).toHaveText('5');
  // The window opens by itself: the page flips to live without a reload.
  await expect(page.getByTestId('phase')).toHaveText(/Live now/, { timeout: 10_000 });
  await claimAsNewUser(baseURL!, drop.id);
  await expect(page.getByTestId('remaining')).toHaveText('4');
  await expect(page.getByRole('progressbar', { name: 'Slots remaining' })).toHaveAttribute('aria-valuenow', '4');
  await admin.dispose();
});

test('sign up, join, wait for the window, claim and see the code; others see it live; the admin closes the window', async ({ page, browser, baseURL }) => {
  // Four browsers and a window opening seconds later: more than the default minute on a busy machine.
  test.setTimeout(120_000);
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 3, opensInMs: 60 * 60_000 });
  const account = newAccount();

  // A second browser, a visitor, watches the same room.
  const watcherContext = await browser.newContext();
  const watcher = await watcherContext.newPage();
  await watcher.goto(`/drops/${drop.id}`);
  await waitLive(watcher);

  await page.goto(`/drops/${drop.id}`);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(new RegExp(`/drops/${drop.id}$`));
  await waitLive(page);

  await page.getByRole('button', { name: 'Join waitlist' }).click();
  await expect(page.getByTestId('waiting')).toBeVisible();
  await expect(page.getByTestId('position')).toHaveText('#1');
  await expect(watcher.getByTestId('waitlist-count')).toHaveText('1');

  // The admin moves the opening to a few seconds from now: both pages follow without a reload.
  const opensAt = Date.now() + 12_000;
  const moved = await admin.patch(`/api/admin/drops/${drop.id}`, {
    data: { claimWindowStart: new Date(opensAt).toISOString(), claimWindowEnd: new Date(opensAt + 120_000).toISOString() },
  });
  expect(moved.ok()).toBeTruthy();

  // Screen readers hear the countdown at milestones, and the opening itself.
  await expect(page.getByTestId('announcer')).toHaveText(/opens in (10|9|8) seconds/, { timeout: 15_000 });
  await expect(page.getByTestId('announcer')).toHaveText(/window is open/, { timeout: 15_000 });
  const claim = page.getByRole('button', { name: 'Claim now' });
  await expect(claim).toBeVisible({ timeout: 15_000 });
  await claim.click();
  await expect(page.getByTestId('claim-code')).toHaveText(/^[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}$/);
  await expect(page.getByRole('img', { name: /QR code/ })).toBeVisible();
  await expect(watcher.getByTestId('remaining')).toHaveText('2');

  // A third person is about to claim when the admin closes the window: their page changes at once.
  const late = await browser.newContext();
  const latePage = await late.newPage();
  const lateAccount = newAccount();
  await latePage.request.post('/api/auth/signup', { data: lateAccount });
  await latePage.goto(`/drops/${drop.id}`);
  await waitLive(latePage);
  await expect(latePage.getByRole('button', { name: 'Join and claim' })).toBeVisible();
  // The admin closes it from the live console.
  const adminContext = await browser.newContext();
  const consolePage = await adminContext.newPage();
  await signIn(consolePage, ADMIN);
  await consolePage.goto(`/admin/drops/${drop.id}`);
  await waitLive(consolePage);
  await expect(consolePage.getByTestId('admin-claimed')).toHaveText('1');
  await consolePage.getByRole('button', { name: 'Close now' }).click();
  await expect(consolePage.getByRole('status').filter({ hasText: 'Window closed.' })).toBeVisible();
  await expect(latePage.getByRole('button', { name: 'Join and claim' })).toBeHidden({ timeout: 3_000 });
  await expect(latePage.getByText("This drop's claim window has closed.")).toBeVisible();
  await expect(latePage.getByTestId('phase')).toHaveText(/Ended/);
  await expect(latePage.getByTestId('announcer')).toHaveText(/closed/);
  // The code stays with its owner.
  await expect(page.getByTestId('claim-code')).toBeVisible();

  await page.goto('/me');
  await expect(page.getByTestId('my-claim')).toHaveCount(1);
  await Promise.all([watcherContext.close(), late.close(), adminContext.close(), admin.dispose()]);
});

test('sold out, paused, not found and sign-in errors render', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 1, opensInMs: -1_000, durationMs: 120_000 });
  await page.request.post('/api/auth/signup', { data: newAccount() });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);

  await adminWindow(admin, drop.id, 'pause');
  await expect(page.getByRole('button', { name: 'Paused' })).toBeDisabled();
  await adminWindow(admin, drop.id, 'resume');
  await expect(page.getByRole('button', { name: 'Join and claim' })).toBeEnabled();

  await claimAsNewUser(baseURL!, drop.id);
  await expect(page.getByTestId('sold-out')).toBeVisible();
  await expect(page.getByTestId('announcer')).toHaveText(/Sold out/);

  const response = await page.goto('/drops/00000000-0000-4000-8000-000000000000');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();

  await page.request.post('/api/auth/logout', { data: {} });
  await page.goto('/login');
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Password').fill('x');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.locator('#email-error')).toHaveText(/valid email/);
  await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
  await page.getByLabel('Email').fill('nobody@dropspot.test');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('form-error')).toHaveText(/Email or password is wrong/);
  await admin.dispose();
});

test('a user who is not an admin gets a 403 page for the console', async ({ page }) => {
  await page.request.post('/api/auth/signup', { data: newAccount() });
  const response = await page.goto('/admin');
  expect(response?.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
});

test('a drop taken back to draft leaves its visitors with "no longer available" and none of the draft', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 5, opensInMs: -1_000, durationMs: 120_000, title: 'Public for now' });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Public for now');

  const unpublished = await admin.patch(`/api/admin/drops/${drop.id}`, { data: { isActive: false, title: 'Secret draft', description: 'Not for the public yet.' } });
  expect(unpublished.ok(), await unpublished.text()).toBeTruthy();
  await expect(page.getByText('This drop is no longer available.')).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Public for now');
  await expect(page.getByText(/Secret draft|Not for the public/)).toHaveCount(0);
  await admin.dispose();
});
