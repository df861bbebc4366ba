import { expect, test, type Page } from '@playwright/test';
import { ADMIN, adminApi, adminWindow, createDrop, newAccount, newSignedInPage, waitLive } from './support.ts';

test('PRIORITY: the holder sees their hold, the next in line sees their place, and the backfill reaches them live', async ({ browser, baseURL }) => {
  // Four browsers and a hold that must run out: more than the default minute on a busy machine.
  test.setTimeout(120_000);
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 1, allocationMode: 'PRIORITY', holdSeconds: 8, opensInMs: 60 * 60_000 });
  const pages: Page[] = [];
  for (let i = 0; i < 2; i += 1) {
    const page = await newSignedInPage(browser, newAccount(), true);
    expect((await page.request.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();
    await page.goto(`/drops/${drop.id}`);
    await waitLive(page);
    await expect(page.getByTestId('allocation-mode')).toContainText('Priority order');
    await expect(page.getByTestId('waiting')).toContainText('line is frozen in priority order');
    pages.push(page);
  }

  const consolePage = await newSignedInPage(browser, ADMIN);
  await consolePage.goto(`/admin/drops/${drop.id}`);
  await waitLive(consolePage);

  // The window opens: the line is frozen; one person holds the only slot, the other waits.
  await adminWindow(admin, drop.id, 'open-now');
  await expect.poll(async () => (await Promise.all(pages.map((p) => p.getByTestId('reservation-granted').isVisible()))).filter(Boolean).length).toBe(1);
  const holderIndex = (await pages[0]!.getByTestId('reservation-granted').isVisible()) ? 0 : 1;
  const holder = pages[holderIndex]!;
  const next = pages[1 - holderIndex]!;
  await expect(holder.getByTestId('reservation-granted')).toContainText(/claim within 00:0[0-8]/);
  await expect(next.getByTestId('reservation-waiting')).toHaveText(/You are #2 in line; 1 reservation ahead of you is still open\./);
  await expect(next.getByRole('button', { name: 'Waiting for your turn' })).toBeDisabled();
  await expect(consolePage.getByTestId('line-row')).toHaveCount(2);
  await expect(consolePage.getByTestId('line-row').first()).toContainText('GRANTED');
  await expect(holder.getByText('The published ranking')).toBeVisible();

  // The holder lets the hold run out: it passes to the next person, whose page changes by itself.
  await expect(holder.getByTestId('reservation-expired')).toBeVisible({ timeout: 15_000 });
  await expect(next.getByTestId('reservation-granted')).toBeVisible({ timeout: 5_000 });
  await expect(consolePage.getByTestId('line-row').first()).toContainText('EXPIRED');
  await next.getByRole('button', { name: 'Claim now' }).click();
  await expect(next.getByTestId('claim-code')).toBeVisible();
  await expect(next.getByTestId('remaining')).toHaveText('0');

  // The published ranking names nobody, and matches what each page showed.
  const ranking = await (await next.request.get(`/api/drops/${drop.id}/ranking`)).json();
  expect(ranking).toMatchObject({ revealed: true, me: { rank: 2 } });
  expect(JSON.stringify(ranking.entries)).not.toContain('@');
  await Promise.all([...pages, consolePage].map((p) => p.context().close()));
  await admin.dispose();
});
