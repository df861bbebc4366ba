import { randomUUID } from 'node:crypto';
import { expect, request as playwrightRequest, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test';
import type { AllocationMode, ClaimView, DropView } from '@dropspot/protocol';
import { ADMIN } from '../playwright.config.ts';

export { ADMIN };

export interface Account {
  email: string;
  password: string;
}

export function newAccount(): Account {
  return { email: `user-${randomUUID().slice(0, 12)}@dropspot.test`, password: 'correct-horse-battery' };
}

/** An API client signed in as `account` (signing it up first when asked). */
export async function apiAs(baseURL: string, account: Account, signup = false): Promise<APIRequestContext> {
  const api = await playwrightRequest.newContext({ baseURL });
  const response = await api.post(signup ? '/api/auth/signup' : '/api/auth/login', { data: account });
  expect(response.ok(), await response.text()).toBeTruthy();
  return api;
}

export function adminApi(baseURL: string): Promise<APIRequestContext> {
  return apiAs(baseURL, ADMIN);
}

/** A published drop whose window opens `opensInMs` from now and lasts `durationMs`. */
export async function createDrop(
  admin: APIRequestContext,
  options: { slots?: number; opensInMs?: number; durationMs?: number; title?: string; allocationMode?: AllocationMode; holdSeconds?: number; requirePow?: boolean; openingShuffleSeconds?: number } = {},
): Promise<DropView> {
  const start = Date.now() + (options.opensInMs ?? 60 * 60_000);
  const response = await admin.post('/api/admin/drops', {
    data: {
      title: options.title ?? `Drop ${randomUUID().slice(0, 8)}`,
      description: 'A test drop.',
      totalSlots: options.slots ?? 10,
      claimWindowStart: new Date(start).toISOString(),
      claimWindowEnd: new Date(start + (options.durationMs ?? 60 * 60_000)).toISOString(),
      ...(options.allocationMode ? { allocationMode: options.allocationMode } : {}),
      ...(options.holdSeconds ? { holdSeconds: options.holdSeconds } : {}),
      ...(options.requirePow ? { requirePow: true } : {}),
      ...(options.openingShuffleSeconds ? { openingShuffleSeconds: options.openingShuffleSeconds } : {}),
    },
  });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as DropView;
}

/** A user who joined and claimed `dropId` through the API (the window must be open). */
export async function claimAsNewUser(baseURL: string, dropId: string): Promise<ClaimView> {
  const api = await apiAs(baseURL, newAccount(), true);
  expect((await api.post(`/api/drops/${dropId}/join`)).ok()).toBeTruthy();
  const response = await api.post(`/api/drops/${dropId}/claim`);
  expect(response.ok(), await response.text()).toBeTruthy();
  const { claim } = (await response.json()) as { claim: ClaimView };
  await api.dispose();
  return claim;
}

/** Signs the browser context in through the API: the cookies land in the context's jar. */
export async function signIn(context: BrowserContext | Page, account: Account, signup = false): Promise<void> {
  const response = await context.request.post(signup ? '/api/auth/signup' : '/api/auth/login', { data: account });
  expect(response.ok(), await response.text()).toBeTruthy();
}

export async function newSignedInPage(browser: Browser, account: Account, signup = false): Promise<Page> {
  const context = await browser.newContext();
  await signIn(context, account, signup);
  return context.newPage();
}

export async function adminWindow(admin: APIRequestContext, dropId: string, action: string, seconds?: number): Promise<void> {
  const response = await admin.post(`/api/admin/drops/${dropId}/window`, { data: seconds ? { action, seconds } : { action } });
  expect(response.ok(), await response.text()).toBeTruthy();
}

/** Waits until the page's socket is connected (the header says "Live"). */
export async function waitLive(page: Page): Promise<void> {
  await expect(page.getByTestId('connection')).toHaveText(/Live/);
}

/**
 * The e2e server runs without SMTP_URL, so mail lands in the development mailbox: an admin's page
 * lists it. Returns the link (path and query, on this server) of the newest message to `to`
 * whose subject matches.
 */
export async function linkFromMailbox(admin: Page, to: string, subject: RegExp): Promise<string> {
  const message = admin.getByTestId('mailbox-message').filter({ hasText: to }).filter({ hasText: subject }).first();
  await expect(async () => {
    await admin.goto('/admin/mailbox');
    await expect(message).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  const href = await message.getByRole('link').first().getAttribute('href');
  const url = new URL(href!);
  return `${url.pathname}${url.search}`;
}
