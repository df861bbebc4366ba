import { randomUUID } from 'node:crypto';
import { expect, test, type Browser } from '@playwright/test';
import type { DropView } from '@dropspot/protocol';
import { ADMIN, adminApi, claimAsNewUser, createDrop, newAccount, signIn } from './support.ts';

/** A browser with JavaScript off: every form must work as plain HTML, through the form actions. */
async function withoutJavaScript(browser: Browser) {
  // Every step is a full page load (and sign-ups and logins hash passwords): more than the default time.
  test.setTimeout(120_000);
  const context = await browser.newContext({ javaScriptEnabled: false });
  return { context, page: await context.newPage() };
}

test('without JavaScript: sign up and log in, with field errors next to the fields and next= kept on this site', async ({ browser, baseURL }) => {
  const { context, page } = await withoutJavaScript(browser);
  const account = newAccount();

  await page.goto('/signup?next=/me');
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.locator('#email-error')).toHaveText(/valid email/);
  await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Email')).toBeFocused();
  await expect(page.getByLabel('Email')).toHaveValue('not-an-email');

  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(new URL('/me', baseURL).toString());
  await expect(page.getByRole('link', { name: account.email })).toBeVisible();

  await context.request.post('/api/auth/logout', { data: {} });
  await page.goto(`/login?next=${encodeURIComponent('/.//evil.example/phish')}`);
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill('not-my-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('form-error')).toHaveText(/Email or password is wrong/);
  await expect(page.getByTestId('form-error')).toBeFocused();
  await expect(page.getByLabel('Email')).toHaveValue(account.email);
  await expect(page.getByLabel('Password')).toHaveValue('');
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(new URL('/', baseURL).toString());
  await expect(page.getByRole('link', { name: account.email })).toBeVisible();

  await context.request.post('/api/auth/logout', { data: {} });
  await page.goto('/login?next=/account');
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(new URL('/account', baseURL).toString());
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
  await context.close();
});

test('without JavaScript: an admin creates a drop, fixing a refused field first', async ({ browser, baseURL }) => {
  const { context, page } = await withoutJavaScript(browser);
  await signIn(context, ADMIN);
  const title = `No-script drop ${randomUUID().slice(0, 8)}`;

  await page.goto('/admin/drops/new');
  await page.getByLabel('Title', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Create drop' }).click();
  await expect(page.locator('[data-form-error]')).toHaveText('Please fix the fields marked below.');
  await expect(page.locator('[data-form-error]')).toBeFocused();
  await expect(page.locator('#title-error')).toBeVisible();

  // The form says which zone its times are in; without JavaScript that is the server's.
  const timeZone = await page.locator('input[name="timeZone"]').inputValue();
  await expect(page.getByText(`time zone: ${timeZone}`)).toBeVisible();
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByLabel('Slots', { exact: true }).fill('7');
  await page.getByLabel('Opens', { exact: true }).fill('2030-05-01T10:00');
  await page.getByLabel('Closes', { exact: true }).fill('2030-05-01T12:30');
  // The hold field appears by CSS alone when PRIORITY or DRAW is chosen.
  await expect(page.getByLabel('Reservation hold (minutes)')).toBeHidden();
  await page.getByRole('radio', { name: /^Random draw/ }).check();
  await expect(page.getByLabel('Reservation hold (minutes)')).toBeVisible();
  await page.getByRole('radio', { name: /^Priority order/ }).check();
  await expect(page.getByLabel('Reservation hold (minutes)')).toBeVisible();
  await page.getByLabel('Reservation hold (minutes)').fill('3');
  await page.getByRole('button', { name: 'Create drop' }).click();
  await expect(page).toHaveURL(/\/admin\/drops\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: title })).toBeVisible();

  const admin = await adminApi(baseURL!);
  const drop = (await (await admin.get(`${new URL(page.url()).pathname.replace('/admin/drops/', '/api/admin/drops/')}`)).json()) as DropView;
  expect(drop).toMatchObject({ title, totalSlots: 7, allocationMode: 'PRIORITY', holdSeconds: 180, isActive: true });
  // The stored instants read back as the wall-clock times typed, in the zone the form stated.
  const wallClock = (iso: string) =>
    new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(new Date(iso)).replace(' ', 'T');
  expect(wallClock(drop.claimWindowStart)).toBe('2030-05-01T10:00');
  expect(wallClock(drop.claimWindowEnd)).toBe('2030-05-01T12:30');
  await admin.dispose();
  await context.close();
});

test('without JavaScript: an admin redeems a code (a second time is refused) and creates and revokes an API token', async ({ browser, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 2, opensInMs: -1_000, durationMs: 600_000 });
  const claim = await claimAsNewUser(baseURL!, drop.id);
  const { context, page } = await withoutJavaScript(browser);
  await signIn(context, ADMIN);

  await page.goto('/admin/redeem');
  await page.getByLabel('Code').fill(claim.code.toLowerCase());
  await page.getByRole('button', { name: 'Redeem' }).click();
  await expect(page.getByTestId('redeem-result')).toContainText(`Redeemed ${claim.code}`);
  await page.getByLabel('Code').fill(claim.code);
  await page.getByRole('button', { name: 'Redeem' }).click();
  await expect(page.getByTestId('redeem-result')).toContainText('Already redeemed');
  await expect(page.getByLabel('Code')).toBeFocused();

  const name = `No-script token ${randomUUID().slice(0, 8)}`;
  await page.goto('/admin/tokens');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('new-token')).toHaveText(/\S{20,}/);
  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('Active');
  await row.getByRole('button', { name: `Revoke ${name}` }).click();
  await expect(page.getByText(`Revoked “${name}”.`)).toBeVisible();
  await expect(page.getByRole('row').filter({ hasText: name })).toContainText('Revoked');
  await admin.dispose();
  await context.close();
});
