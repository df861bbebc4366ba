import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { freePort } from '../../server/test/support/free-port.ts';
import { ADMIN, apiAs, claimAsNewUser, createDrop, signIn, waitLive } from './support.ts';

// Its own server, whose access tokens live 30 s (the shortest the config allows), so that this
// test sees them expire without changing the other tests' server.
const TTL_SECONDS = 30;
let server: ChildProcess | undefined;
let base = '';

test.describe.configure({ timeout: 180_000 });

test.beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [path.join(import.meta.dirname, 'e2e-server.ts')], {
    env: { ...process.env, PORT: String(port), ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, ACCESS_TOKEN_TTL_SECONDS: String(TTL_SECONDS) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await expect
    .poll(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status, { timeout: 90_000 })
    .toBe(200);
});

test.afterAll(async () => {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server!.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
});

test("an admin's console keeps its live numbers and event stream after the access token expires", async ({ browser }) => {
  const admin = await apiAs(base, ADMIN);
  const drop = await createDrop(admin, { slots: 10, opensInMs: -1_000, durationMs: 600_000 });
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  // The server ends `/admin` and `/events` (saying `session:expired` first) once their token expired.
  const ended = new Set<string>();
  const back = new Set<string>();
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      const frame = String(payload);
      const expired = /^42(\/admin|\/events),\["session:expired"/.exec(frame)?.[1];
      if (expired) ended.add(expired);
      const connected = /^40(\/admin|\/events),/.exec(frame)?.[1];
      if (connected && ended.has(connected)) back.add(connected);
    });
  });
  await signIn(page, ADMIN);
  await page.goto(`/admin/drops/${drop.id}`);
  await waitLive(page);
  await expect(page.getByTestId('admin-claimed')).toHaveText('0');
  await expect(page.getByText('Stream: connected')).toBeVisible();

  await expect.poll(() => ended.size, { timeout: (TTL_SECONDS + 30) * 1000 }).toBe(2);
  // After the expiry: a claim moves the console's numbers and reaches its event stream.
  await claimAsNewUser(base, drop.id);
  await expect(page.getByTestId('admin-claimed')).toHaveText('1');
  await expect(page.getByTestId('connection')).toHaveText(/Live/);
  await expect(page.getByText('Stream: connected')).toBeVisible();
  await expect(page.getByTestId('event-feed')).toContainText('Code issued');
  // Both namespaces were joined again (with a fresh token, on the same page).
  await expect.poll(() => back.size).toBe(2);
  await Promise.all([context.close(), admin.dispose()]);
});
