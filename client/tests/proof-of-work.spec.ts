import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { freePort } from '../../server/test/support/free-port.ts';
import { adminApi, createDrop, newAccount, signIn } from './support.ts';

/** Content-Security-Policy complaints in the page's console: the widget must work under the strict policy. */
function cspViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

test.describe('signup with proof of work required', () => {
  // A server of its own with REQUIRE_POW_SIGNUP on: the shared one signs its test users up without it.
  let server: ChildProcess;
  let baseURL: string;

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    const port = await freePort();
    baseURL = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [path.join(import.meta.dirname, 'e2e-server.ts')], {
      env: { ...process.env, PORT: String(port), REQUIRE_POW_SIGNUP: 'true' },
      stdio: 'ignore',
    });
    await expect(async () => {
      const ready = await fetch(`${baseURL}/readyz`).catch(() => null);
      expect(ready?.ok).toBe(true);
    }).toPass({ timeout: 90_000 });
  });
  test.afterAll(async () => {
    server.kill('SIGTERM');
    if (server.exitCode === null) await once(server, 'exit');
  });

  test('the widget solves a challenge in the page and the signup form sends it', async ({ page }) => {
    const violations = cspViolations(page);
    const account = newAccount();
    await page.goto(`${baseURL}/signup`);
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password').fill(account.password);
    // Focusing the form started the widget; its hidden field gets the payload once solved.
    await expect(page.locator('form input[name="altcha"]')).toHaveValue(/^[A-Za-z0-9+/]+=*$/, { timeout: 30_000 });
    const posted = page.waitForRequest((request) => request.method() === 'POST' && new URL(request.url()).pathname === '/signup');
    await page.getByRole('button', { name: 'Sign up' }).click();
    expect((await posted).postData()).toContain('altcha');
    await expect(page).toHaveURL(`${baseURL}/`);
    expect(violations).toEqual([]);

    // The same signup without the widget's payload is refused by the API.
    const refused = await fetch(`${baseURL}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(newAccount()),
    });
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([400, 'POW_REQUIRED']);
  });
});

test('a drop that requires proof of work is joined after the widget in the drop room solved its challenge', async ({ page, baseURL }) => {
  const violations = cspViolations(page);
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { requirePow: true });
  const account = newAccount();
  await signIn(page, account, true);
  await page.goto(`/drops/${drop.id}`);
  const join = page.getByRole('button', { name: 'Join waitlist' });
  await expect(page.getByTestId('join-proof-of-work')).toBeVisible();
  // Enabled once the challenge is solved.
  await expect(join).toBeEnabled({ timeout: 30_000 });
  await join.click();
  await expect(page.getByRole('button', { name: 'Leave waitlist' })).toBeVisible();
  await expect(page.getByTestId('join-proof-of-work')).toHaveCount(0);
  expect(violations).toEqual([]);
});
