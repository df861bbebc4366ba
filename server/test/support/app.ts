import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import type { AllocationMode } from '@dropspot/protocol';
import { pino, type Logger } from 'pino';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { createApp, type App, type AppDeps } from '../../src/app.ts';
import type { Services } from '../../src/services.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { closeOrm, initOrm, type Orm } from '../../src/db/orm.ts';
import { hashPassword } from '../../src/modules/auth/password.ts';
import { SessionSchema } from '../../src/modules/auth/session.entity.ts';
import { signAccessToken } from '../../src/modules/auth/tokens.ts';
import { DropSchema } from '../../src/modules/drops/drop.entity.ts';
import { UserSchema } from '../../src/modules/users/user.entity.ts';
import { WaitlistSchema } from '../../src/modules/waitlist/waitlist.entity.ts';
import { withDatabase } from './global-setup.ts';
import { closeSockets } from './sockets.ts';

let fileDatabase: Promise<string> | undefined;

/**
 * This test file's own database, copied from the migrated template (about a tenth of a second).
 * Vitest runs each file in its own process, so module state is per file.
 */
export function testDatabaseUrl(): Promise<string> {
  fileDatabase ??= (async () => {
    const admin = inject('adminDatabaseUrl');
    const name = `${inject('templateDatabase').replace(/_template$/, '')}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      // Copying needs the template to be idle; another file may be copying it this very moment.
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query(`create database "${name}" template "${inject('templateDatabase')}"`);
          break;
        } catch (error) {
          if (attempt >= 50 || !/being accessed by other users/.test(String(error))) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      await client.end();
    }
    return withDatabase(admin, name);
  })();
  return fileDatabase;
}

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestApp {
  baseUrl: string;
  orm: Orm;
  config: Readonly<Config>;
  services: Services;
  /** The Express app and the realtime layer, for tests that read their routes and handlers. */
  app: App['app'];
  realtime: App['realtime'];
  signals: App['signals'];
  /** The METRICS_PORT listener's base URL, when the app has one. */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

/** The whole app on 127.0.0.1 port 0 against the tests' database, with generous rate limits. */
/** `webClient`: a handler mounted in the web client's slot (`serveClient`), as `main.ts` mounts SvelteKit. */
export async function startTestApp(
  env: Record<string, string> = {},
  limits?: AppDeps['realtimeLimits'],
  logger?: Logger,
  webClient?: RequestHandler,
): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_ACCESS_SECRET: TEST_SECRET,
    ALTCHA_HMAC_KEY: TEST_SECRET,
    DATABASE_URL: await testDatabaseUrl(),
    RATE_LIMIT_AUTH_PER_MINUTE: '100000',
    RATE_LIMIT_CLAIM_PER_MINUTE: '100000',
    RATE_LIMIT_WAITLIST_PER_MINUTE: '100000',
    RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE: '100000',
    SOCKET_CONNECTIONS_PER_IP: '100000',
    SOCKET_EVENTS_PER_IP_PER_SECOND: '100000',
    PRIORITY_REMOTE_URL: 'https://example.test/dropspot.git',
    PRIORITY_FIRST_COMMIT_EPOCH: '1762279200',
    // The app in this process sends its own mail and notifications (npm start forks a worker for them).
    SEND_WORKER: 'inline',
    ...env,
  });
  const orm = await initOrm(config.databaseUrl!, { pool: { min: 0, max: 10 }, logger: () => {} });
  logger ??= pino({ level: 'silent' });
  const { app, realtime, httpServer, services, signals, start, close, serveClient, metricsServer } = createApp({ config, orm, logger, realtimeLimits: limits });
  if (webClient) serveClient(webClient);
  await start();
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    orm,
    config,
    services,
    app,
    realtime,
    signals,
    metricsUrl: metricsServer() ? `http://127.0.0.1:${(metricsServer()!.address() as AddressInfo).port}` : undefined,
    close: async () => {
      await close();
      await closeOrm(orm);
    },
  };
}

/**
 * This file's app, started before its tests and closed after them; the sockets a test opened are
 * closed after it. `app` and `api` can be taken at module level: they forward to the app that
 * `beforeAll` started, so hooks and tests registered after this call may use them.
 */
export function useTestApp(env: Record<string, string> = {}, limits?: AppDeps['realtimeLimits']): { app: TestApp; api: Api } {
  let started: { app: TestApp; api: Api } | undefined;
  const current = () => {
    if (!started) throw new Error('the test app starts in beforeAll: use it in hooks and tests');
    return started;
  };
  beforeAll(async () => {
    const app = await startTestApp(env, limits);
    started = { app, api: client(app.baseUrl) };
  });
  afterEach(() => closeSockets());
  afterAll(async () => {
    closeSockets();
    await started?.app.close();
  });
  return {
    app: new Proxy({} as TestApp, { get: (_target, key) => Reflect.get(current().app, key) }),
    api: <T = any>(method: string, path: string, options?: RequestOptions) => current().api<T>(method, path, options),
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as-is instead of JSON-encoding `body`. */
  raw?: string;
}

export type Api = <T = any>(method: string, path: string, options?: RequestOptions) => Promise<ApiResponse<T>>;

/** A small fetch wrapper that always returns status, parsed body and headers. */
export function client(baseUrl: string): Api {
  return async function api<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
}

export const uniqueEmail = (label = 'user') => `${label}-${randomUUID()}@test.dropspot`;

let sharedHash: Promise<string> | undefined;

/**
 * Many users at once, straight into the database (one argon2 hash shared by all, so hundreds
 * of accounts take milliseconds), each with a live session and a signed access token.
 */
export async function createUsers(app: TestApp, count: number, role: 'USER' | 'ADMIN' = 'USER') {
  sharedHash ??= hashPassword('correct horse battery');
  const passwordHash = await sharedHash;
  const em = app.orm.em.fork();
  const users = Array.from({ length: count }, () => ({ id: randomUUID(), email: uniqueEmail(role.toLowerCase()), passwordHash, role }));
  await em.insertMany(UserSchema, users);
  const sessions = users.map((user) => ({
    id: randomUUID(),
    user: user.id,
    refreshTokenHash: randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, ''),
    family: randomUUID(),
    expiresAt: new Date(Date.now() + 3600_000),
  }));
  await em.insertMany(SessionSchema, sessions);
  return users.map((user, i) => ({
    id: user.id,
    email: user.email,
    password: 'correct horse battery',
    token: signAccessToken(TEST_SECRET, 900, { sub: user.id, role, sid: sessions[i]!.id }),
  }));
}

export async function createUser(app: TestApp, role: 'USER' | 'ADMIN' = 'USER') {
  const [user] = await createUsers(app, 1, role);
  return user!;
}

const MINUTE = 60_000;

/** A drop straight into the database; by default live for the next ten minutes. */
export async function createDrop(
  app: TestApp,
  options: {
    totalSlots?: number;
    startInMs?: number;
    endInMs?: number;
    isActive?: boolean;
    title?: string;
    allocationMode?: AllocationMode;
    holdSeconds?: number;
    requirePow?: boolean;
  } = {},
) {
  const em = app.orm.em.fork();
  const now = Date.now();
  const drop = em.create(DropSchema, {
    title: options.title ?? `Drop ${randomUUID().slice(0, 8)}`,
    totalSlots: options.totalSlots ?? 10,
    claimWindowStart: new Date(now + (options.startInMs ?? -MINUTE)),
    claimWindowEnd: new Date(now + (options.endInMs ?? 10 * MINUTE)),
    isActive: options.isActive ?? true,
    allocationMode: options.allocationMode ?? 'FCFS',
    holdSeconds: options.holdSeconds ?? 600,
    requirePow: options.requirePow ?? false,
    publishedAt: new Date(now - 2 * MINUTE),
  });
  await em.flush();
  return drop;
}

/** Puts users on a drop's waitlist directly (scores irrelevant to the test). */
export async function addToWaitlist(app: TestApp, dropId: string, userIds: string[]) {
  const em = app.orm.em.fork();
  const breakdown = { base: 1000, signupLatencyMs: 0, accountAgeDays: 0, rapidActions: 0, coefficients: { A: 7, B: 13, C: 3 }, terms: { latency: 0, accountAge: 0, rapidActions: 0 }, score: 1000 };
  await em.insertMany(
    WaitlistSchema,
    userIds.map((user, i) => ({ id: randomUUID(), user, drop: dropId, priorityScore: 1000, scoreBreakdown: breakdown, joinedAt: new Date(Date.now() - 60_000 + i) })),
  );
}
