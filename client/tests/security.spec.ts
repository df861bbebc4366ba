import { expect, test } from '@playwright/test';
import { adminApi, createDrop, waitLive } from './support.ts';

test('pages carry a strict Content-Security-Policy and the app still runs under it', async ({ page, baseURL }) => {
  const admin = await adminApi(baseURL!);
  const drop = await createDrop(admin, { slots: 3, opensInMs: 60_000 });
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });

  const response = await page.goto(`/drops/${drop.id}`);
  const csp = response!.headers()['content-security-policy'] ?? '';
  expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'/);
  expect(csp).not.toMatch(/unsafe-inline'[^;]*;?\s*$|script-src[^;]*unsafe-(inline|eval)/);
  expect(csp).toContain("object-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");

  // Hydrated and live: the socket connected and the countdown ticks.
  await waitLive(page);
  const countdown = page.getByTestId('countdown');
  const before = await countdown.textContent();
  await expect(countdown).not.toHaveText(before!, { timeout: 3_000 });

  // An injected inline script does not run.
  const ran = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.__injected = true';
    document.body.append(script);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return (window as unknown as { __injected?: boolean }).__injected === true;
  });
  expect(ran).toBe(false);
  expect(violations.length).toBeGreaterThan(0); // the blocked script, and only that
  expect(violations.every((text) => /inline script/i.test(text))).toBe(true);
  await admin.dispose();
});

test('API responses are not framable and state-changing cookie requests from another origin are refused', async ({ page, baseURL }) => {
  const response = await page.request.get('/api/drops');
  expect(response.headers()['x-content-type-options']).toBe('nosniff');
  await page.request.post('/api/auth/signup', { data: { email: `csrf-${Date.now()}@dropspot.test`, password: 'correct-horse-battery' } });
  const forged = await page.request.post('/api/auth/logout', { data: {}, headers: { origin: 'https://evil.example' } });
  expect(forged.status()).toBe(403);
  expect((await forged.json()).code).toBe('CSRF_REJECTED');
  const me = await page.request.get('/api/auth/me');
  expect(me.status()).toBe(200);
  expect(baseURL).toBeTruthy();
});

test('after signing in, next= only leads to a page on this site', async ({ page, baseURL }) => {
  const account = { email: `next-${Date.now()}@dropspot.test`, password: 'correct-horse-battery' };
  await page.request.post('/api/auth/signup', { data: account });
  await page.request.post('/api/auth/logout', { data: {} });
  for (const next of ['https://evil.example/phish', '//evil.example/x', '/\t/evil.example', '/.//evil.example/x']) {
    await page.goto(`/login?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password').fill(account.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    // Sent home instead of anywhere else.
    await expect(page).toHaveURL(new URL('/', baseURL).toString());
    await page.request.post('/api/auth/logout', { data: {} });
  }
});

test('a form action posted from another site is refused and changes nothing', async ({ page }) => {
  const account = { email: `forged-${Date.now()}@dropspot.test`, password: 'correct-horse-battery' };
  await page.request.post('/api/auth/signup', { data: account });
  const forged = await page.request.post('/account?/password', {
    form: { currentPassword: account.password, newPassword: 'chosen-by-the-attacker' },
    headers: { origin: 'https://evil.example' },
  });
  expect(forged.status()).toBe(403);
  expect(await forged.text()).toMatch(/Cross-site POST form submissions are forbidden/);
  expect((await page.request.post('/api/auth/login', { data: account })).status()).toBe(200);
});
