import { expect, test, type Page } from '@playwright/test';
import { ADMIN, newAccount, signIn, waitLive } from './support.ts';

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

for (const { page: path, field, as, typed } of [
  { page: '/signup', field: 'Email', as: null, typed: 'typed-early@dropspot.test' },
  { page: '/forgot-password', field: 'Email', as: null, typed: 'typed-early@dropspot.test' },
  { page: '/account', field: 'New email', as: 'user', typed: 'typed-early@dropspot.test' },
  { page: '/admin/drops/new', field: 'Title', as: 'admin', typed: 'Typed before hydration' },
  { page: '/admin/drops/new', field: 'Slots', as: 'admin', typed: '42' },
  { page: '/admin/webhooks', field: 'Endpoint URL', as: 'admin', typed: 'https://shop.example.com/hooks' },
  { page: '/admin/tokens', field: 'Name', as: 'admin', typed: 'Warehouse' },
  { page: '/admin/redeem', field: 'Code', as: 'admin', typed: 'ABCD-2345-WXYZ' },
] as const) {
  test(`${field} typed on ${path} before the page became interactive is kept`, async ({ page }) => {
    if (as === 'user') await signIn(page, newAccount(), true);
    if (as === 'admin') await signIn(page, ADMIN);
    const release = await holdScripts(page);
    await page.goto(path, { waitUntil: 'commit' });
    await page.getByLabel(field).fill(typed);
    release();
    await waitLive(page);
    await expect(page.getByLabel(field)).toHaveValue(typed);
  });
}
