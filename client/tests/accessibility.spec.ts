import AxeBuilder from '@axe-core/playwright';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { ADMIN, adminApi, apiAs, claimAsNewUser, createDrop, newAccount, signIn, waitLive } from './support.ts';

async function expectNoSeriousViolations(page: Page, label: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${label}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** Presses Tab until the focused element has this accessible text; fails after `max` presses. */
async function tabTo(page: Page, name: RegExp, max = 40) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    // Only controls count (the body's text contains every name on the page).
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el?.matches('a, button, input, select, textarea')) return '';
      return (el.getAttribute('aria-label') ?? (el as HTMLInputElement).labels?.[0]?.innerText ?? el.innerText ?? '').trim();
    });
    if (name.test(focused)) return;
  }
  throw new Error(`could not reach ${name} with the Tab key`);
}

// One test per page (or per state of a page), so a busy machine times out none of them; the drops
// they look at are made once.
test.describe('every page passes an axe scan with no serious or critical violations', () => {
  let admin: APIRequestContext;
  let live: { id: string };
  let priority: { id: string };

  test.beforeAll(async ({ baseURL }) => {
    admin = await adminApi(baseURL!);
    live = await createDrop(admin, { slots: 10, opensInMs: -60_000, durationMs: 600_000 });
    priority = await createDrop(admin, { slots: 5, allocationMode: 'PRIORITY', opensInMs: 60 * 60_000 });
    await claimAsNewUser(baseURL!, live.id);
  });
  test.afterAll(() => admin.dispose());

  const token = 'x'.repeat(43);
  const visitorPages: [string, () => string][] = [
    ['/', () => '/'],
    ['a live drop', () => `/drops/${live.id}`],
    ['a PRIORITY drop', () => `/drops/${priority.id}`],
    ['/login', () => '/login'],
    ['/signup', () => '/signup'],
    ['an unknown drop', () => '/drops/00000000-0000-4000-8000-000000000000'],
    ['/forgot-password', () => '/forgot-password'],
    ['/reset-password', () => `/reset-password?token=${token}`],
    ['/verify-email', () => `/verify-email?token=${token}`],
  ];
  for (const [name, url] of visitorPages) {
    test(`visitor: ${name}`, async ({ page }) => {
      await page.goto(url());
      await expectNoSeriousViolations(page, `visitor ${url()}`);
    });
  }

  test.describe('a signed-in user', () => {
    // The pages after the drop room show the claim made in it.
    test.describe.configure({ mode: 'serial' });
    const account = newAccount();

    test.beforeAll(async ({ baseURL }) => {
      const user = await apiAs(baseURL!, account, true);
      await user.post(`/api/drops/${live.id}/join`);
      await user.dispose();
    });

    test('user: the drop room, waitlisted and then claimed', async ({ page }) => {
      await signIn(page, account);
      await page.goto(`/drops/${live.id}`);
      await waitLive(page);
      await expectNoSeriousViolations(page, 'user drop room (waitlisted)');
      await page.getByRole('button', { name: 'Claim now' }).click();
      await expect(page.getByTestId('claim-code')).toBeVisible();
      await expectNoSeriousViolations(page, 'user drop room (claimed)');
    });

    for (const url of ['/me', '/account', '/admin']) {
      test(`user: ${url}`, async ({ page }) => {
        await signIn(page, account);
        await page.goto(url);
        await expectNoSeriousViolations(page, `user ${url}`);
      });
    }
  });

  const adminPages: [string, () => string][] = [
    ['/admin', () => '/admin'],
    ['a live drop', () => `/admin/drops/${live.id}`],
    ['a PRIORITY drop', () => `/admin/drops/${priority.id}`],
    ['/admin/drops/new', () => '/admin/drops/new'],
    ['/admin/redeem', () => '/admin/redeem'],
    ['/admin/tokens', () => '/admin/tokens'],
    ['/admin/audit', () => '/admin/audit'],
    ['/admin/mailbox', () => '/admin/mailbox'],
  ];
  for (const [name, url] of adminPages) {
    test(`admin: ${name}`, async ({ page }) => {
      await signIn(page, ADMIN);
      await page.goto(url());
      await waitLive(page);
      await expectNoSeriousViolations(page, `admin ${url()}`);
    });
  }
});

test('keyboard only: sign in, find the drop, claim, copy the code', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 5, opensInMs: -10_000, durationMs: 600_000 });
  const account = newAccount();
  await page.request.post('/api/auth/signup', { data: account });
  await page.request.post('/api/auth/logout', { data: {} });

  await page.goto(`/login?next=/drops/${drop.id}`);
  await tabTo(page, /^Email/);
  await page.keyboard.type(account.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(account.password);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/drops/${drop.id}$`));
  await waitLive(page);

  await tabTo(page, /Join and claim/);
  // The focus ring is visible on what the keyboard reached.
  const focus = await page.evaluate(() => {
    const el = document.activeElement!;
    return { text: (el as HTMLElement).innerText, visible: el.matches(':focus-visible'), outline: getComputedStyle(el).outlineStyle };
  });
  expect(focus).toMatchObject({ text: expect.stringMatching(/Join and claim/), visible: true });
  expect(focus.outline).not.toBe('none');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('claim-code')).toBeVisible();
  // The button is gone; keyboard focus moved to the result rather than back to the page's top.
  await expect(page.getByTestId('claim-success')).toBeFocused();
  await tabTo(page, /Copy code/);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();
  await admin.dispose();
});
