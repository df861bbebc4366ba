import { expect, test } from '@playwright/test';
import type { DropView } from '@dropspot/protocol';
import { SAMPLE_SUGGESTION } from '../../server/test/support/fake-chat-provider.ts';
import { ADMIN, adminApi, signIn } from './support.ts';

test('an admin streams a suggested description into the form, edits it and saves the drop', async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  await page.goto('/admin/drops/new');
  const title = `Blue mugs ${Date.now()}`;
  await page.getByLabel('Title', { exact: true }).fill(title);
  const description = page.getByLabel('Description', { exact: true });
  await description.fill('My own draft.');
  // Every value the page writes into the textarea, in order: the text must arrive in pieces.
  await description.evaluate((element: HTMLTextAreaElement) => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    const setter = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!;
    Object.defineProperty(element, 'value', {
      configurable: true,
      get: Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.get,
      set(value: string) {
        seen.push(value);
        setter.call(this, value);
      },
    });
  });

  await page.getByRole('button', { name: 'Suggest a description' }).click();
  await expect(description).toHaveValue(SAMPLE_SUGGESTION);
  await expect(page.locator('#suggest-status')).toHaveText('Suggestion ready: edit it as you like, then save.');
  await expect(page.getByRole('button', { name: 'Suggest a description' })).toBeEnabled();
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen.filter((value) => value !== ''));
  expect(seen.length).toBeGreaterThan(3);
  // Growing prefixes of the suggestion, ending with all of it: streamed in order, the draft replaced.
  for (const [index, value] of seen.entries()) {
    expect(SAMPLE_SUGGESTION.startsWith(value), value).toBe(true);
    if (index > 0) expect(value.length).toBeGreaterThan(seen[index - 1]!.length);
  }
  expect(seen.at(-1)).toBe(SAMPLE_SUGGESTION);

  // The admin edits the suggestion, then saves: the drop keeps the edited text.
  await description.fill(`${SAMPLE_SUGGESTION} Ships in May.`);
  await page.getByRole('button', { name: 'Create drop' }).click();
  await expect(page).toHaveURL(/\/admin\/drops\/[0-9a-f-]{36}$/);
  const admin = await adminApi(baseURL!);
  const id = page.url().split('/').at(-1)!;
  const drop = (await (await admin.get(`/api/admin/drops/${id}`)).json()) as DropView;
  expect([drop.title, drop.description]).toEqual([title, `${SAMPLE_SUGGESTION} Ships in May.`]);
  await admin.dispose();
});

test('the suggestion needs a title first', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/admin/drops/new');
  await page.getByLabel('Title', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Suggest a description' }).click();
  await expect(page.locator('#suggest-status')).toHaveText('Write a title first: the suggestion starts from it.');
  await expect(page.getByLabel('Description', { exact: true })).toHaveValue('');
});

test('without AI_BASE_URL and AI_MODEL the button is shown disabled, with the reason', async ({ browser }) => {
  // The second server of playwright.config.ts: the same app started without the helper's settings.
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${process.env.E2E_PORT_NO_AI}` });
  try {
    await signIn(context, ADMIN);
    const page = await context.newPage();
    await page.goto('/admin/drops/new');
    const button = page.getByRole('button', { name: 'Suggest a description' });
    await expect(button).toBeDisabled();
    await expect(page.locator('#suggest-status')).toHaveText('Suggestions are off: the server has no AI_BASE_URL and AI_MODEL set.');
  } finally {
    await context.close();
  }
});
