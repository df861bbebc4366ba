import { expect, test } from '@playwright/test';

test.setTimeout(120_000);

test('the API reference renders from this origin under its own CSP, with nothing blocked and nothing fetched elsewhere', async ({ page, baseURL }) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const foreign: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!['data:', 'blob:'].includes(url.protocol) && url.origin !== new URL(baseURL!).origin) foreign.push(request.url());
  });

  const response = await page.goto('/api/docs');
  expect(response!.status()).toBe(200);
  expect(response!.headers()['content-security-policy']).toMatch(/script-src 'self' 'sha256-/);
  // Scalar read the generated document: its title, tags and operations are on the page.
  await expect(page.getByRole('heading', { name: 'DropSpot API' })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText('Ready to serve: the database answers').first()).toBeVisible();
  await page.getByText('Drops', { exact: true }).first().click();
  await expect(page.getByText('Claim a slot').first()).toBeVisible({ timeout: 20_000 });
  expect(violations).toEqual([]);
  expect(foreign).toEqual([]);
});
