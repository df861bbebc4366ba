import { expect, test } from '@playwright/test';
import { ADMIN, adminApi, apiAs, createDrop, linkFromMailbox, newAccount, newSignedInPage, waitLive } from './support.ts';

test('sign up, read the verification mail in the development mailbox, confirm the address, join', async ({ page, browser, baseURL }) => {
  // Two browsers, a mail queue and several page loads: more than the default budget on a busy machine.
  test.slow();
  const account = newAccount();
  await page.goto('/signup');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/$/);

  await page.goto('/account');
  await expect(page.getByTestId('email-status')).toHaveText(/not confirmed yet/);

  const admin = await newSignedInPage(browser, ADMIN);
  const link = await linkFromMailbox(admin, account.email, /confirm your email address/);
  expect(link).toMatch(/^\/verify-email\?token=/);
  await page.goto(link);
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await expect(page.getByTestId('verified')).toBeVisible();
  // The link works once.
  await admin.goto(link);
  await admin.getByRole('button', { name: 'Confirm my address' }).click();
  await expect(admin.getByTestId('verify-error')).toHaveText(/not valid or was already used/);

  await page.goto('/account');
  await expect(page.getByTestId('email-status')).toHaveText(/confirmed\./);
  await expect(page.getByTestId('verify-notice')).toHaveCount(0);

  const drop = await createDrop(await adminApi(baseURL!), { opensInMs: 60 * 60_000 });
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await page.getByRole('button', { name: 'Join waitlist' }).click();
  await expect(page.getByRole('button', { name: 'Leave waitlist' })).toBeVisible();
  await admin.context().close();
});

test('forgot password, reset from the mailed link: every old session is signed out', async ({ page, browser, baseURL }) => {
  test.slow();
  const account = newAccount();
  const otherDevice = await apiAs(baseURL!, account, true);
  const signedIn = await newSignedInPage(browser, account);
  await signedIn.goto('/account');
  await expect(signedIn.getByTestId('email-status')).toBeVisible();

  await page.goto('/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  // The login page has an Email field too: wait for the new page before typing.
  await expect(page.getByRole('heading', { name: 'Forgot your password?' })).toBeVisible();
  await page.getByLabel('Email').fill(account.email);
  await page.getByRole('button', { name: 'Mail me a link' }).click();
  await expect(page.getByTestId('forgot-sent')).toHaveText(/a link to reset its password is on its way/);

  const admin = await newSignedInPage(browser, ADMIN);
  const link = await linkFromMailbox(admin, account.email, /reset your password/);
  await admin.context().close();
  await page.goto(link);
  await page.getByLabel('New password').fill('short');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await expect(page.locator('#newPassword-error')).toBeVisible();
  await page.getByLabel('New password').fill('a-brand-new-password');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByText('every device is signed out')).toBeVisible();

  expect((await otherDevice.get('/api/auth/me')).status()).toBe(401);
  await signedIn.goto('/account');
  await expect(signedIn).toHaveURL(/\/login/);
  expect((await page.request.post('/api/auth/login', { data: { email: account.email, password: account.password } })).status()).toBe(401);
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill('a-brand-new-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await otherDevice.dispose();
  await signedIn.context().close();
});
