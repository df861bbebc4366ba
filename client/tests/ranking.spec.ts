import { expect, test } from '@playwright/test';
import { adminApi, adminWindow, apiAs, createDrop, newAccount, newSignedInPage } from './support.ts';

test('the published ranking page shows the frozen line a page at a time, with the visitor’s own place', async ({ browser, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 1, allocationMode: 'PRIORITY', opensInMs: 60 * 60_000 });
  for (let i = 0; i < 2; i += 1) {
    const other = await apiAs(baseURL!, newAccount(), true);
    expect((await other.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();
    await other.dispose();
  }
  const page = await newSignedInPage(browser, newAccount(), true);
  expect((await page.request.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();
  await adminWindow(admin, drop.id, 'open-now');

  await page.goto(`/drops/${drop.id}`);
  await page.getByRole('link', { name: 'The published ranking' }).click();
  await expect(page).toHaveURL(new RegExp(`/drops/${drop.id}/ranking`));
  await expect(page.getByTestId('ranking-entry')).toHaveCount(3);
  await expect(page.getByTestId('ranking-entry').first()).toContainText('1');
  await expect(page.getByTestId('my-rank')).toContainText(/You are #[1-3]/);
  // One page holds the whole line: no link to a next page.
  await expect(page.getByRole('link', { name: 'Next page' })).toHaveCount(0);
  // A bad offset is the API's refusal on the error page, not a broken page.
  await page.goto(`/drops/${drop.id}/ranking?offset=-1`);
  await expect(page.getByRole('heading', { level: 1 })).not.toHaveText('Published ranking');
  await page.context().close();
  await admin.dispose();
});

test('a DRAW drop says how it gives out slots and shows its commitment; its ranking page lists the draw keys', async ({ browser, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 1, allocationMode: 'DRAW', opensInMs: 60 * 60_000 });
  const page = await newSignedInPage(browser, newAccount(), true);
  await page.goto(`/drops/${drop.id}`);
  await expect(page.getByTestId('allocation-mode')).toContainText('Random draw.');
  await expect(page.getByTestId('allocation-mode')).toContainText('has the same chance; the order is drawn at the opening and published');
  await expect(page.getByText(drop.rankingCommitment!)).toBeVisible();
  expect((await page.request.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();
  await adminWindow(admin, drop.id, 'open-now');

  await page.goto(`/drops/${drop.id}/ranking`);
  await expect(page.getByText('A random draw: scores and join times play no part.')).toBeVisible();
  await expect(page.getByRole('columnheader', { name: 'Draw key' })).toBeVisible();
  await expect(page.getByTestId('ranking-entry')).toHaveCount(1);
  await expect(page.getByTestId('my-rank')).toContainText('You are #1');
  await page.context().close();
  await admin.dispose();
});
