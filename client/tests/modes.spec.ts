import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import type { DropView } from '@dropspot/protocol';
import { ADMIN, adminApi, apiAs, createDrop, newAccount, signIn, waitLive } from './support.ts';

test('the room says each mode in plain words: first come first served, a shuffled opening, a random draw', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const fcfs = await createDrop(admin, { opensInMs: 3_600_000 });
  const shuffled = await createDrop(admin, { opensInMs: 3_600_000, openingShuffleSeconds: 10 });
  const draw = await createDrop(admin, { opensInMs: 3_600_000, allocationMode: 'DRAW' });

  await page.goto(`/drops/${fcfs.id}`);
  await expect(page.getByTestId('allocation-mode')).toContainText('First come, first served when the window opens');

  await page.goto(`/drops/${shuffled.id}`);
  const mode = page.getByTestId('allocation-mode');
  await expect(mode).toContainText('First come, first served, with a shuffled opening.');
  await expect(mode).toContainText('Claims that arrive in the first 10 seconds after the window opens all have the same chance');
  await expect(mode).toContainText('After that, first come, first served.');
  await expect(page.getByText(shuffled.rankingCommitment!)).toBeVisible();

  await page.goto(`/drops/${draw.id}`);
  await expect(page.getByTestId('allocation-mode')).toContainText('Random draw.');
  await expect(page.getByTestId('allocation-mode')).toContainText('has the same chance; the order is drawn at the opening and published');
  await admin.dispose();
});

test("the window is shown in the viewer's time zone, and 'Add to calendar' downloads the window as an .ics file", async ({ browser, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { title: `Calendar drop ${randomUUID().slice(0, 6)}`, opensInMs: 26 * 3_600_000 });
  const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(`/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByTestId('time-zone')).toHaveText('(your time, Asia/Tokyo)');
  const tokyo = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Tokyo' }).format(new Date(drop.claimWindowStart));
  await expect(page.getByTestId('window-times')).toContainText(tokyo);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('add-to-calendar').click()]);
  expect(download.suggestedFilename()).toBe(`dropspot-${drop.title.toLowerCase().replaceAll(' ', '-')}.ics`);
  const ics = await readFile((await download.path())!, 'utf8');
  expect(ics).toContain('BEGIN:VCALENDAR');
  expect(ics).toContain(`UID:drop-${drop.id}@`);
  await context.close();
  await admin.dispose();
});

test('the admin form offers DRAW and, for first come first served only, the shuffled opening with its help; the setting is saved', async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  await page.goto('/admin/drops/new');
  await expect(page.getByRole('radio', { name: /^Random draw/ })).toBeVisible();
  const shuffle = page.getByLabel('Shuffle the first seconds');
  await expect(shuffle).toBeVisible();
  await expect(page.getByText('they are served in a random order fixed in advance and published, not in arrival order')).toBeVisible();
  await page.getByRole('radio', { name: /^Random draw/ }).check();
  await expect(shuffle).toBeHidden();
  await page.getByRole('radio', { name: /^First come, first served/ }).check();
  await expect(shuffle).toBeVisible();

  const title = `Shuffled ${randomUUID().slice(0, 8)}`;
  await page.getByLabel('Title', { exact: true }).fill(title);
  await shuffle.fill('61');
  await page.getByRole('button', { name: 'Create drop' }).click();
  await expect(page.locator('#openingShuffleSeconds-error')).toBeVisible();
  await shuffle.fill('15');
  await page.getByRole('button', { name: 'Create drop' }).click();
  await expect(page).toHaveURL(/\/admin\/drops\/[0-9a-f-]{36}$/);
  const admin = await adminApi(baseURL!);
  const drop = (await (await admin.get(new URL(page.url()).pathname.replace('/admin/drops/', '/api/admin/drops/'))).json()) as DropView;
  expect(drop).toMatchObject({ title, allocationMode: 'FCFS', openingShuffleSeconds: 15 });
  await admin.dispose();

  // A user in its room reads the same rule.
  const account = newAccount();
  await page.context().clearCookies();
  await signIn(page, account, true);
  await page.goto(`/drops/${drop.id}`);
  await expect(page.getByTestId('allocation-mode')).toContainText('first 15 seconds');
});

test("a shuffled opening's claim is answered when the interval ends; the room links the published order, which lists the outcome", async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 1, opensInMs: 1_500, openingShuffleSeconds: 5 });
  const account = newAccount();
  const user = await apiAs(baseURL!, account, true);
  expect((await user.post(`/api/drops/${drop.id}/join`)).ok()).toBeTruthy();
  // Claims before the opening are refused; the first one after it waits for the interval's end and gets the code.
  await expect
    .poll(async () => (await user.post(`/api/drops/${drop.id}/claim`, { timeout: 30_000 })).status(), { timeout: 30_000, intervals: [250] })
    .toBe(201);
  await user.dispose();
  await admin.dispose();

  await signIn(page, account);
  await page.goto(`/drops/${drop.id}`);
  await expect(page.getByTestId('claim-success')).toBeVisible();
  await expect(page.getByTestId('opening-settled')).toBeVisible();
  await page.getByRole('link', { name: 'The published order' }).click();
  await expect(page.getByTestId('ranking-entry')).toHaveCount(1);
  await expect(page.getByTestId('ranking-entry')).toContainText('Got a code');
  await expect(page.getByTestId('my-rank')).toContainText('You are #1');
});

test('before a DRAW opens, a person who joined is told they are in the draw, not given a place that the draw has not decided', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const draw = await createDrop(admin, { opensInMs: 3_600_000, allocationMode: 'DRAW' });
  const earlier = await apiAs(baseURL!, newAccount(), true);
  expect((await earlier.post(`/api/drops/${draw.id}/join`)).ok()).toBe(true);

  await signIn(page, newAccount(), true);
  await page.goto(`/drops/${draw.id}`);
  await waitLive(page);
  await page.getByRole('button', { name: 'Join waitlist' }).click();
  await expect(page.getByTestId('waiting')).toBeVisible();
  const entry = page.getByTestId('draw-entry');
  await expect(entry).toContainText('You are in the draw, with 2 people in it so far.');
  await expect(entry).toContainText('Everyone who joins before the window opens has the same chance');
  // Joining second says nothing about the order: no "#2".
  await expect(page.getByTestId('position')).toHaveCount(0);
  await expect(page.getByText(/#2\b/)).toHaveCount(0);
  // Nor does the person's own list of waitlists.
  await page.goto('/me');
  await expect(page.getByTestId('my-draw-entry')).toHaveText('In the draw, 2 entries');
  await expect(page.getByText(/#2 of/)).toHaveCount(0);
  await earlier.dispose();
  await admin.dispose();
});
