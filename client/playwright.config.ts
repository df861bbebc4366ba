import { execFileSync } from 'node:child_process';
import { defineConfig, devices } from '@playwright/test';

// One port for the whole run: chosen once here, inherited by the workers through the environment.
const freePort = () =>
  execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
  ]).toString();
process.env.E2E_PORT ??= freePort();
// A second server without the description helper's settings, for its disabled state.
process.env.E2E_PORT_NO_AI ??= freePort();
const baseURL = `http://127.0.0.1:${process.env.E2E_PORT}`;

export const ADMIN = { email: 'e2e-admin@dropspot.test', password: 'e2e-admin-password' };

// Debian's Chromium (`apt-get install -y chromium`); Playwright's own download is never used.
const chromium = {
  ...devices['Desktop Chrome'],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  },
};

export default defineConfig({
  testDir: './tests',
  outputDir: '../.data/e2e-results',
  fullyParallel: false,
  workers: 2,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list'], ['json', { outputFile: process.env.E2E_JSON ?? '../.data/e2e-results.json' }]] : 'list',
  use: { baseURL, trace: 'retain-on-failure', screenshot: 'only-on-failure' },
  projects: [
    { name: 'chromium', use: chromium, testIgnore: /screenshots\.spec\.ts/ },
    { name: 'screenshots', use: chromium, testMatch: /screenshots\.spec\.ts/ },
  ],
  webServer: [
    {
      command: 'node tests/e2e-server.ts',
      url: `${baseURL}/readyz`,
      timeout: 60_000,
      reuseExistingServer: false,
      gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
      stdout: 'pipe',
      stderr: 'pipe',
      env: { PORT: process.env.E2E_PORT, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password },
    },
    {
      command: 'node tests/e2e-server.ts',
      url: `http://127.0.0.1:${process.env.E2E_PORT_NO_AI}/readyz`,
      timeout: 60_000,
      reuseExistingServer: false,
      gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
      stdout: 'pipe',
      stderr: 'pipe',
      env: { PORT: process.env.E2E_PORT_NO_AI, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, E2E_AI: 'off' },
    },
  ],
});
