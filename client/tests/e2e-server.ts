/**
 * The server the browser tests run against: the real app (built client, API, Socket.IO) on a
 * throw-away embedded PostgreSQL in a temp folder, never the dev data in `.data/`.
 * Playwright starts it (webServer) and stops it with SIGTERM.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../server/test/support/free-port.ts';
import { SAMPLE_SUGGESTION, startFakeChatProvider } from '../../server/test/support/fake-chat-provider.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-e2e-'));
// Running as root, the embedded PostgreSQL switches to its own user, which must reach the folder.
chmodSync(dir, 0o755);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

Object.assign(process.env, {
  NODE_ENV: 'development',
  CLIENT: 'built',
  DATA_DIR: dir,
  EMBEDDED_PG_PORT: String(await freePort()),
  HOST: '127.0.0.1',
  SEED_DEMO: 'false',
  LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'error',
  // Every test signs up and claims from the same address.
  RATE_LIMIT_AUTH_PER_MINUTE: '100000',
  RATE_LIMIT_CLAIM_PER_MINUTE: '100000',
  RATE_LIMIT_WAITLIST_PER_MINUTE: '100000',
  SOCKET_CONNECTIONS_PER_IP: '100000',
  SOCKET_EVENTS_PER_IP_PER_SECOND: '100000',
  RATE_LIMIT_POW_CHALLENGE_PER_MINUTE: '100000',
  // Cheap proof-of-work challenges: the browser tests check that the widget works, not what it costs.
  ALTCHA_MAX_NUMBER: '2000',
  // The webhook test's receiver listens on loopback.
  WEBHOOK_ALLOW_PRIVATE: 'true',
  // The notification test's push endpoint is an HTTP server on loopback (never allowed in production).
  PUSH_ALLOW_LOOPBACK: 'true',
});

// "Suggest a description" talks to a loopback server that speaks the streaming chat-completions
// protocol, a few words at a time; E2E_AI=off starts this server without it (the disabled button).
if (process.env.E2E_AI !== 'off') {
  const provider = await startFakeChatProvider({ kind: 'stream', chunks: SAMPLE_SUGGESTION.split(/(?<= )/), pauseMs: 40 });
  Object.assign(process.env, { AI_BASE_URL: provider.url, AI_MODEL: 'e2e-fake-model' });
}

await import('../../server/src/main.ts');
