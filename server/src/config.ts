import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** The repository root: `.data/`, `migrations/` and the git metadata live here. */
export const ROOT_DIR = path.resolve(import.meta.dirname, '../..');

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const csv = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

const secret = z.string().min(32, 'must be at least 32 characters');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.url().optional(),
  REDIS_URL: z.url().optional(),
  REDIS_PREFIX: z.string().regex(/^[\w.:-]{1,64}$/).default('dropspot'),
  DATA_DIR: z.string().default(path.join(ROOT_DIR, '.data')),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  // Server processes behind PORT on this machine (server/src/cluster.ts); `auto`: one per CPU.
  WORKERS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(64)]).default(1),
  JWT_ACCESS_SECRET: secret.optional(),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(300).max(365 * 86_400).default(30 * 86_400),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().min(10).max(256).optional(),
  ADMIN_PROMOTE_EXISTING: bool.default(false),
  CORS_ORIGINS: csv.default([]),
  // Express's `trust proxy`: true/false, a hop count, or addresses/subnets.
  TRUST_PROXY: z
    .string()
    .transform((value): boolean | number | string => (value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value))
    .optional(),
  BODY_LIMIT: z.string().regex(/^\d+(b|kb|mb)$/i, 'a size such as 16kb or 1mb').default('16kb'),
  RATE_LIMIT_AUTH_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_CLAIM_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  RATE_LIMIT_WAITLIST_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  SOCKET_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).default(20),
  SOCKET_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).default(50),
  SOCKET_EVENTS_PER_USER_PER_SECOND: z.coerce.number().int().min(1).default(20),
  SOCKET_EVENTS_PER_IP_PER_SECOND: z.coerce.number().int().min(1).default(50),
  RATE_LIMIT_RANKING_PER_MINUTE: z.coerce.number().int().min(1).default(300),
  SEED_DEMO: bool.optional(),
  // built: client/build (npm start builds it); dev: Vite with hot reload; off: API only.
  CLIENT: z.enum(['built', 'dev', 'off']).optional(),
  PRIORITY_REMOTE_URL: z.string().optional(),
  PRIORITY_FIRST_COMMIT_EPOCH: z.coerce.number().int().min(0).optional(),
  PRIORITY_START_TIME: z.string().regex(/^\d{12}$/, 'YYYYMMDDHHmm').default('202511041800'),
  PRIORITY_BASE: z.coerce.number().int().min(0).max(1_000_000).default(1000),
  // Mail (server/src/modules/mail/): without SMTP_URL, outside production, the development mailbox.
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  MAIL_FROM: z.string().min(3).max(200).default('DropSpot <no-reply@dropspot.localhost>'),
  MAIL_RETRY_DELAY_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  RATE_LIMIT_MAIL_PER_MINUTE: z.coerce.number().int().min(1).default(3),
  REQUIRE_VERIFIED_EMAIL: bool.optional(),
  BLOCK_DISPOSABLE_EMAIL: bool.default(true),
  // Proof of work (server/src/modules/pow/): ALTCHA challenges signed with this key.
  ALTCHA_HMAC_KEY: secret.optional(),
  // The work per challenge: the solver tries on average MAX_NUMBER / 2 counters, each COST PBKDF2 iterations.
  ALTCHA_MAX_NUMBER: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  ALTCHA_COST: z.coerce.number().int().min(1).max(100_000).default(1),
  RATE_LIMIT_POW_CHALLENGE_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  REQUIRE_POW_SIGNUP: bool.optional(),
  // Prometheus metrics (server/src/observability/): off unless a token or a port of their own is set.
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').max(512).regex(/^\S+$/, 'no spaces').optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('127.0.0.1'),
  // "Suggest a description" (server/src/modules/ai/): an OpenAI-compatible chat-completions server.
  AI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  AI_API_KEY: z.string().max(1000).optional(),
  AI_MODEL: z.string().max(200).optional(),
  AI_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
  RATE_LIMIT_AI_PER_MINUTE: z.coerce.number().int().min(1).default(10),
  // Webhooks (server/src/modules/webhooks/) and how long published events are kept.
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
  WEBHOOK_RETRY_FOR_SECONDS: z.coerce.number().int().min(1).max(30 * 86_400).default(86_400),
  OUTBOX_RETENTION_HOURS: z.coerce.number().int().min(1).max(100 * 365 * 24).default(7 * 24),
  // Notifications (server/src/modules/notifications/): leads of the timed kinds, Web Push (VAPID).
  NOTIFICATIONS_ENABLED: bool.default(true),
  // Who sends mail and notifications: a separate, lower-priority process `npm start` forks (so a
  // storm of claims keeps the CPU), this process itself, or none here (a worker runs elsewhere).
  SEND_WORKER: z.enum(['process', 'inline', 'off']).default('process'),
  SEND_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  NOTIFY_OPENS_SOON_LEAD_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(600),
  NOTIFY_HOLD_EXPIRY_LEAD_SECONDS: z.coerce.number().int().min(1).max(86_400).default(120),
  VAPID_PUBLIC_KEY: z.string().regex(/^[A-Za-z0-9_-]{87}$/, 'an uncompressed P-256 public key, base64url (87 characters)').optional(),
  VAPID_PRIVATE_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a P-256 private key, base64url (43 characters)').optional(),
  VAPID_SUBJECT: z.string().regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'a mailto: address or an https: URL').optional(),
  PUSH_SERVICE_HOSTS: csv.default(['fcm.googleapis.com', '*.push.services.mozilla.com', '*.push.apple.com', '*.notify.windows.com']),
  PUSH_ALLOW_LOOPBACK: bool.default(false),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  publicUrl: string | undefined;
  logLevel: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** Channel prefix on Redis, so several deployments (or test runs) can share one Redis. */
  redisPrefix: string;
  dataDir: string;
  embeddedPgPort: number;
  dbPoolMax: number;
  /** Server processes sharing PORT (1: this process serves alone, no cluster). */
  workers: number;
  jwtAccessSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** `promoteExisting`: ADMIN_EMAIL may promote an account someone registered before (signing it out everywhere). */
  admin: { email: string; password: string; promoteExisting: boolean } | undefined;
  corsOrigins: string[];
  trustProxy: boolean | number | string | undefined;
  bodyLimit: string;
  rateLimits: { authPerMinute: number; claimPerMinute: number; waitlistPerMinute: number; actionsPerIpPerMinute: number; rankingPerMinute: number };
  /**
   * Open Socket.IO connections per account and per address, and the events a second that all the
   * sockets of one account (or, for visitors, of one address) may send together.
   */
  socketLimits: { connectionsPerUser: number; connectionsPerIp: number; eventsPerUserPerSecond: number; eventsPerIpPerSecond: number };
  seedDemo: boolean;
  client: 'built' | 'dev' | 'off';
  priority: { remoteUrl: string | undefined; firstCommitEpoch: number | undefined; startTime: string; base: number };
  /**
   * `smtpUrl` undefined: messages go to the development mailbox (database, admin page, log line).
   * `retryDelaySeconds`: first retry of a failed send, doubling after. `perMinute`: mails one
   * address (or one signed-in user) may ask for.
   */
  mail: { smtpUrl: string | undefined; from: string; retryDelaySeconds: number; perMinute: number };
  /** Joining and claiming need a verified address. */
  requireVerifiedEmail: boolean;
  blockDisposableEmail: boolean;
  /**
   * ALTCHA proof of work: `hmacKey` signs challenges; a solution takes on average `maxNumber / 2`
   * attempts of `cost` PBKDF2 iterations; `challengesPerMinute` per address.
   */
  pow: { hmacKey: string; maxNumber: number; cost: number; challengesPerMinute: number };
  /** Signing up needs a solved proof-of-work challenge. */
  requirePowSignup: boolean;
  /**
   * Prometheus metrics, on when `token` or `port` is set: `token` serves GET /metrics on the app's
   * port to a bearer of it; `port` serves it on a listener of its own at `host` (loopback by default).
   */
  metrics: { enabled: boolean; token: string | undefined; port: number | undefined; host: string };
  /**
   * The description helper: an OpenAI-compatible chat-completions server at `baseUrl` (both it and
   * `model` set, or it is off); `timeoutMs` bounds a whole suggestion; `perMinute` per admin.
   */
  ai: { baseUrl: string | undefined; apiKey: string | undefined; model: string | undefined; timeoutMs: number; perMinute: number };
  /**
   * Webhook deliveries: `allowPrivate` lets endpoints resolve to private and loopback addresses
   * (tests, a receiver on the same network); each attempt waits at most `timeoutMs`; a failed
   * delivery is retried after `retryBaseMs`, doubling, for `retryForSeconds`, then marked failed.
   */
  webhooks: { allowPrivate: boolean; timeoutMs: number; retryBaseMs: number; retryForSeconds: number };
  /** Published events older than this are pruned (except those a webhook endpoint still has to deliver). */
  outboxRetentionHours: number;
  /**
   * Notifications (`enabled`: planned and sent at all): seconds before the opening for "opens soon" and before a hold's end for
   * "about to expire". `vapid`: the Web Push keys (undefined: Web Push is off). `serviceHosts`:
   * the push services' host names (`*.` for any subdomain) subscriptions may point at;
   * `allowLoopback` (tests only, refused in production) lets them point at http://127.0.0.1.
   */
  notifications: { enabled: boolean; opensSoonLeadSeconds: number; holdExpiryLeadSeconds: number };
  /** Where mail and notifications are sent from (see SEND_WORKER), and the forked worker's nice value. */
  sendWorker: { mode: 'process' | 'inline' | 'off'; nice: number };
  push: { vapid: { publicKey: string; privateKey: string; subject: string } | undefined; serviceHosts: string[]; allowLoopback: boolean };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * In development the secrets nobody set are generated once and kept in `.data/secrets.json`,
 * so sessions survive restarts without anyone having to invent a key.
 */
function developmentSecret(dataDir: string, name: 'JWT_ACCESS_SECRET' | 'ALTCHA_HMAC_KEY' | 'VAPID_KEYS', make = () => randomBytes(48).toString('base64url')): string {
  const file = path.join(dataDir, 'secrets.json');
  let stored: Record<string, string> = {};
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    // first start: nothing stored yet
  }
  const existing = stored[name];
  if (existing) return existing;
  const created = make();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ ...stored, [name]: created }, null, 2), { mode: 0o600 });
  return created;
}

/** A VAPID key pair (P-256) as Web Push wants it: the uncompressed public point and the private scalar, base64url. */
function newVapidKeys(): string {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return `${point.toString('base64url')}.${jwk.d}`;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  // An empty variable (`DATABASE_URL= npm start`) means "not set", as it does in a shell.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.NODE_ENV === 'production') {
    // No SMTP_URL in production would mean verification and reset links nobody receives.
    const missing = (['JWT_ACCESS_SECRET', 'ALTCHA_HMAC_KEY', 'SMTP_URL'] as const).filter((name) => !e[name]);
    if (missing.length > 0) {
      throw new ConfigError(`Refusing to start in production without: ${missing.join(', ')}`);
    }
  }
  if ((e.ADMIN_EMAIL === undefined) !== (e.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('ADMIN_EMAIL and ADMIN_PASSWORD must be set together');
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError('METRICS_PORT must differ from PORT (or use METRICS_TOKEN to serve /metrics on PORT)');
  }
  const workers = e.WORKERS === 'auto' ? Math.min(64, os.availableParallelism()) : e.WORKERS;
  if (workers > 1 && e.METRICS_PORT && e.PORT >= e.METRICS_PORT && e.PORT < e.METRICS_PORT + workers) {
    throw new ConfigError(`With WORKERS=${workers} the workers serve metrics on METRICS_PORT to METRICS_PORT+${workers - 1}: PORT must be outside that range`);
  }
  if (workers > 1 && e.CLIENT === 'dev') {
    throw new ConfigError('CLIENT=dev (Vite with hot reload) runs in one process: leave WORKERS unset');
  }
  if ((e.AI_BASE_URL === undefined) !== (e.AI_MODEL === undefined)) {
    throw new ConfigError('AI_BASE_URL and AI_MODEL must be set together (or neither, which turns "Suggest a description" off)');
  }
  if ((e.VAPID_PUBLIC_KEY === undefined) !== (e.VAPID_PRIVATE_KEY === undefined)) {
    throw new ConfigError('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together');
  }
  if (e.PUSH_ALLOW_LOOPBACK && e.NODE_ENV === 'production') {
    throw new ConfigError('PUSH_ALLOW_LOOPBACK is for tests: it is refused in production');
  }
  // Development generates a pair once (like the other secrets); production without keys runs without Web Push.
  const [vapidPublic, vapidPrivate] =
    e.VAPID_PUBLIC_KEY && e.VAPID_PRIVATE_KEY
      ? [e.VAPID_PUBLIC_KEY, e.VAPID_PRIVATE_KEY]
      : e.NODE_ENV === 'production'
        ? []
        : developmentSecret(path.resolve(e.DATA_DIR), 'VAPID_KEYS', newVapidKeys).split('.');
  const seedDemo = e.SEED_DEMO ?? (e.DATABASE_URL === undefined && e.NODE_ENV === 'development');
  const config: Config = {
    env: e.NODE_ENV,
    // With the well-known demo accounts in the database, listen on this machine only unless told otherwise.
    host: e.HOST ?? (seedDemo ? '127.0.0.1' : '0.0.0.0'),
    port: e.PORT,
    publicUrl: e.PUBLIC_URL,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    dataDir: path.resolve(e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    workers,
    jwtAccessSecret: e.JWT_ACCESS_SECRET ?? developmentSecret(path.resolve(e.DATA_DIR), 'JWT_ACCESS_SECRET'),
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    admin: e.ADMIN_EMAIL && e.ADMIN_PASSWORD ? { email: e.ADMIN_EMAIL.toLowerCase(), password: e.ADMIN_PASSWORD, promoteExisting: e.ADMIN_PROMOTE_EXISTING } : undefined,
    corsOrigins: e.CORS_ORIGINS,
    trustProxy: e.TRUST_PROXY,
    bodyLimit: e.BODY_LIMIT,
    rateLimits: {
      authPerMinute: e.RATE_LIMIT_AUTH_PER_MINUTE,
      claimPerMinute: e.RATE_LIMIT_CLAIM_PER_MINUTE,
      waitlistPerMinute: e.RATE_LIMIT_WAITLIST_PER_MINUTE,
      actionsPerIpPerMinute: e.RATE_LIMIT_ACTIONS_PER_IP_PER_MINUTE,
      rankingPerMinute: e.RATE_LIMIT_RANKING_PER_MINUTE,
    },
    socketLimits: {
      connectionsPerUser: e.SOCKET_CONNECTIONS_PER_USER,
      connectionsPerIp: e.SOCKET_CONNECTIONS_PER_IP,
      eventsPerUserPerSecond: e.SOCKET_EVENTS_PER_USER_PER_SECOND,
      eventsPerIpPerSecond: e.SOCKET_EVENTS_PER_IP_PER_SECOND,
    },
    seedDemo,
    client: e.CLIENT ?? (e.NODE_ENV === 'test' ? 'off' : 'built'),
    priority: {
      remoteUrl: e.PRIORITY_REMOTE_URL,
      firstCommitEpoch: e.PRIORITY_FIRST_COMMIT_EPOCH,
      startTime: e.PRIORITY_START_TIME,
      base: e.PRIORITY_BASE,
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, retryDelaySeconds: e.MAIL_RETRY_DELAY_SECONDS, perMinute: e.RATE_LIMIT_MAIL_PER_MINUTE },
    requireVerifiedEmail: e.REQUIRE_VERIFIED_EMAIL ?? e.NODE_ENV === 'production',
    blockDisposableEmail: e.BLOCK_DISPOSABLE_EMAIL,
    pow: {
      hmacKey: e.ALTCHA_HMAC_KEY ?? developmentSecret(path.resolve(e.DATA_DIR), 'ALTCHA_HMAC_KEY'),
      maxNumber: e.ALTCHA_MAX_NUMBER,
      cost: e.ALTCHA_COST,
      challengesPerMinute: e.RATE_LIMIT_POW_CHALLENGE_PER_MINUTE,
    },
    requirePowSignup: e.REQUIRE_POW_SIGNUP ?? e.NODE_ENV === 'production',
    metrics: { enabled: e.METRICS_TOKEN !== undefined || e.METRICS_PORT !== undefined, token: e.METRICS_TOKEN, port: e.METRICS_PORT, host: e.METRICS_HOST },
    ai: { baseUrl: e.AI_BASE_URL, apiKey: e.AI_API_KEY, model: e.AI_MODEL, timeoutMs: e.AI_TIMEOUT_SECONDS * 1000, perMinute: e.RATE_LIMIT_AI_PER_MINUTE },
    webhooks: { allowPrivate: e.WEBHOOK_ALLOW_PRIVATE, timeoutMs: e.WEBHOOK_TIMEOUT_MS, retryBaseMs: e.WEBHOOK_RETRY_BASE_MS, retryForSeconds: e.WEBHOOK_RETRY_FOR_SECONDS },
    outboxRetentionHours: e.OUTBOX_RETENTION_HOURS,
    notifications: { enabled: e.NOTIFICATIONS_ENABLED, opensSoonLeadSeconds: e.NOTIFY_OPENS_SOON_LEAD_SECONDS, holdExpiryLeadSeconds: e.NOTIFY_HOLD_EXPIRY_LEAD_SECONDS },
    sendWorker: { mode: e.SEND_WORKER, nice: e.SEND_WORKER_NICE },
    push: {
      vapid: vapidPublic && vapidPrivate ? { publicKey: vapidPublic, privateKey: vapidPrivate, subject: e.VAPID_SUBJECT ?? 'mailto:no-reply@dropspot.localhost' } : undefined,
      serviceHosts: e.PUSH_SERVICE_HOSTS.map((host) => host.toLowerCase()),
      allowLoopback: e.PUSH_ALLOW_LOOPBACK,
    },
  };
  return Object.freeze(config);
}
