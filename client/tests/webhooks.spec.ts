import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { Webhook } from 'standardwebhooks';
import { startReceiver } from '../../server/test/support/receiver.ts';
import { ADMIN, adminApi, createDrop, signIn } from './support.ts';

test('an admin registers a webhook in the console: the secret is shown once, and deliveries are listed', async ({ page, baseURL }) => {
  // Several page loads and two axe scans: more than one ordinary test's time on a busy machine.
  test.slow();
  const hook = await startReceiver();
  const admin = await adminApi(baseURL!);
  await signIn(page, ADMIN);

  await page.goto('/admin/webhooks');
  await expect(page.getByRole('heading', { name: 'Webhooks' })).toBeVisible();
  // A refusal first: no event type chosen.
  await page.getByLabel('Endpoint URL').fill(hook.url);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByText('choose at least one event type')).toBeVisible();
  await expect(page.getByLabel('Endpoint URL')).toHaveValue(hook.url);

  await page.getByLabel('Description').fill('Shop sync');
  await page.getByRole('checkbox', { name: 'drop.created' }).check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const shown = page.getByTestId('webhook-secret');
  await expect(shown).toHaveText(/^whsec_[A-Za-z0-9+/]{43}=$/);
  const secret = (await shown.textContent())!;
  const row = page.getByRole('row').filter({ hasText: hook.url });
  await expect(row).toContainText('Enabled');
  await expect(row).toContainText('drop.created');

  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);

  // Shown once: a fresh load of the page does not carry it.
  await page.reload();
  await expect(page.getByTestId('webhook-secret')).toHaveCount(0);
  expect(await page.content()).not.toContain(secret.slice(6));

  const drop = await createDrop(admin, { title: 'Webhook browser drop' });
  await expect.poll(() => hook.received.length).toBe(1);
  const [request] = hook.received;
  const verified = new Webhook(secret).verify(request!.body, {
    'webhook-id': request!.webhookId,
    'webhook-timestamp': String(request!.headers['webhook-timestamp']),
    'webhook-signature': String(request!.headers['webhook-signature']),
  }) as { data: { dropId: string } };
  expect(verified.data.dropId).toBe(drop.id);

  await page.getByRole('link', { name: hook.url }).click();
  const delivery = page.getByTestId('delivery').first();
  await expect(delivery).toContainText('drop.created');
  await expect(delivery).toContainText('Delivered');
  await expect(delivery).toContainText(request!.webhookId);
  await expect(delivery).toContainText('204');
  const detailAxe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  expect(detailAxe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);

  // Disable, then delete, from the list.
  await page.getByRole('link', { name: 'All webhooks' }).click();
  await page.getByRole('button', { name: `Disable ${hook.url}` }).click();
  await expect(page.getByRole('row').filter({ hasText: hook.url })).toContainText('Disabled');
  await page.getByRole('button', { name: `Delete ${hook.url}` }).click();
  await expect(page.getByText(`Deleted the endpoint ${hook.url}.`)).toBeVisible();
  await expect(page.getByRole('row').filter({ hasText: hook.url })).toHaveCount(0);

  await admin.dispose();
  await hook.close();
});
