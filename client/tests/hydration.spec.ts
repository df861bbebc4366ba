import { expect, test, type Page } from '@playwright/test';
import { newAccount, signIn, waitLive } from './support.ts';

/**
 * A page is served whole and becomes interactive when its JavaScript has loaded (hydration); on a
 * slow connection people type in between. What they typed must still be there afterwards.
 * The test holds the app's scripts back until it has typed, then lets the page hydrate.
 */
async function holdScripts(page: Page): Promise<() => void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/_app/immutable/**', async (route) => {
    await released;
    await route.continue();
  });
  return release;
}

test('an address typed on the sign-up page before it became interactive is kept', async ({ page }) => {
  const release = await holdScripts(page);
  await page.goto('/signup', { waitUntil: 'commit' });
  await page.getByLabel('Email').fill('typed-early@dropspot.test');
  release();
  await waitLive(page);
  await expect(page.getByLabel('Email')).toHaveValue('typed-early@dropspot.test');
});

test('a new address typed on the account page before it became interactive is kept', async ({ page }) => {
  await signIn(page, newAccount(), true);
  const release = await holdScripts(page);
  await page.goto('/account', { waitUntil: 'commit' });
  await page.getByLabel('New email').fill('typed-early@dropspot.test');
  release();
  await waitLive(page);
  await expect(page.getByLabel('New email')).toHaveValue('typed-early@dropspot.test');
});

test('an address typed on the forgot-password page before it became interactive is kept', async ({ page }) => {
  const release = await holdScripts(page);
  await page.goto('/forgot-password', { waitUntil: 'commit' });
  await page.getByLabel('Email').fill('typed-early@dropspot.test');
  release();
  await waitLive(page);
  await expect(page.getByLabel('Email')).toHaveValue('typed-early@dropspot.test');
});
