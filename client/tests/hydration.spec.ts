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

for (const { page: path, field, signedIn } of [
  { page: '/signup', field: 'Email', signedIn: false },
  { page: '/forgot-password', field: 'Email', signedIn: false },
  { page: '/account', field: 'New email', signedIn: true },
]) {
  test(`an address typed on ${path} before the page became interactive is kept`, async ({ page }) => {
    if (signedIn) await signIn(page, newAccount(), true);
    const release = await holdScripts(page);
    await page.goto(path, { waitUntil: 'commit' });
    await page.getByLabel(field).fill('typed-early@dropspot.test');
    release();
    await waitLive(page);
    await expect(page.getByLabel(field)).toHaveValue('typed-early@dropspot.test');
  });
}
