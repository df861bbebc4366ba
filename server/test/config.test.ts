import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'dropspot-config-'));
const tempDir = () => mkdtempSync(path.join(root, 'case-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('config', () => {
  it('has working defaults: port 3000, embedded database, demo data in development', () => {
    const config = loadConfig({ DATA_DIR: tempDir() });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.seedDemo).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('generates a development secret once and keeps it under the data folder', () => {
    const dir = tempDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    expect(first.jwtAccessSecret.length).toBeGreaterThanOrEqual(32);
    expect(second.jwtAccessSecret).toBe(first.jwtAccessSecret);
    expect(JSON.parse(readFileSync(path.join(dir, 'secrets.json'), 'utf8')).JWT_ACCESS_SECRET).toBe(first.jwtAccessSecret);
  });

  it('refuses to start in production without secrets, naming what is missing', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: tempDir() })).toThrow(/JWT_ACCESS_SECRET/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_ACCESS_SECRET: 'p'.repeat(40), DATA_DIR: tempDir() })).toThrow(/ALTCHA_HMAC_KEY, SMTP_URL/);
    const config = loadConfig({ NODE_ENV: 'production', JWT_ACCESS_SECRET: 'p'.repeat(40), ALTCHA_HMAC_KEY: 'a'.repeat(40), DATABASE_URL: 'postgres://u:p@db:5432/x', SMTP_URL: 'smtp://mail:25' });
    expect(config.seedDemo).toBe(false);
    expect(config.requirePowSignup).toBe(true);
  });

  it('generates a Web Push (VAPID) key pair once in development; production without one runs with Web Push off', () => {
    const dir = tempDir();
    const first = loadConfig({ DATA_DIR: dir });
    expect(first.push.vapid?.publicKey).toMatch(/^B[A-Za-z0-9_-]{86}$/);
    expect(first.push.vapid?.privateKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loadConfig({ DATA_DIR: dir }).push.vapid).toEqual(first.push.vapid);
    const production = { NODE_ENV: 'production', JWT_ACCESS_SECRET: 'p'.repeat(40), ALTCHA_HMAC_KEY: 'a'.repeat(40), DATABASE_URL: 'postgres://u:p@db:5432/x', SMTP_URL: 'smtp://mail:25' };
    expect(loadConfig(production).push.vapid).toBeUndefined();
    const keys = { VAPID_PUBLIC_KEY: first.push.vapid!.publicKey, VAPID_PRIVATE_KEY: first.push.vapid!.privateKey };
    expect(loadConfig({ ...production, ...keys, VAPID_SUBJECT: 'https://dropspot.example' }).push.vapid).toEqual({ publicKey: keys.VAPID_PUBLIC_KEY, privateKey: keys.VAPID_PRIVATE_KEY, subject: 'https://dropspot.example' });
    expect(() => loadConfig({ ...production, VAPID_PUBLIC_KEY: keys.VAPID_PUBLIC_KEY })).toThrow(/set together/);
    expect(() => loadConfig({ ...production, VAPID_SUBJECT: 'someone' })).toThrow(/VAPID_SUBJECT/);
    expect(() => loadConfig({ ...production, PUSH_ALLOW_LOOPBACK: 'true' })).toThrow(/PUSH_ALLOW_LOOPBACK/);
  });

  it('explains invalid values', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATA_DIR: tempDir() })).toThrow(/PORT/);
    expect(() => loadConfig({ JWT_ACCESS_SECRET: 'short' })).toThrow(/JWT_ACCESS_SECRET: must be at least 32 characters/);
    expect(() => loadConfig({ ADMIN_EMAIL: 'a@b.test', DATA_DIR: tempDir() })).toThrow(/ADMIN_PASSWORD/);
  });

  it('listens on loopback only while the demo accounts are seeded', () => {
    expect(loadConfig({ DATA_DIR: tempDir() }).host).toBe('127.0.0.1');
    expect(loadConfig({ DATA_DIR: tempDir(), DATABASE_URL: 'postgres://u:p@db/x' }).host).toBe('0.0.0.0');
    expect(loadConfig({ DATA_DIR: tempDir(), HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it('parses TRUST_PROXY as Express means it and checks BODY_LIMIT', () => {
    const trust = (value: string) => loadConfig({ DATA_DIR: tempDir(), TRUST_PROXY: value }).trustProxy;
    expect(trust('true')).toBe(true);
    expect(trust('1')).toBe(1);
    expect(trust('loopback, 10.0.0.0/8')).toBe('loopback, 10.0.0.0/8');
    expect(() => loadConfig({ DATA_DIR: tempDir(), BODY_LIMIT: 'lots' })).toThrow(/BODY_LIMIT/);
  });

  it('parses lists and limits', () => {
    const config = loadConfig({ DATA_DIR: tempDir(), CORS_ORIGINS: 'https://a.test, https://b.test', RATE_LIMIT_CLAIM_PER_MINUTE: '5' });
    expect(config.corsOrigins).toEqual(['https://a.test', 'https://b.test']);
    expect(config.rateLimits.claimPerMinute).toBe(5);
  });

  it('takes WORKERS from 1 to 64 or auto (one per CPU), 1 by default, and refuses what a cluster cannot serve', () => {
    const workers = (value?: string, env: Record<string, string> = {}) => loadConfig({ DATA_DIR: tempDir(), ...(value === undefined ? {} : { WORKERS: value }), ...env }).workers;
    expect(workers()).toBe(1);
    expect(workers('4')).toBe(4);
    expect(workers('auto')).toBe(Math.min(64, os.availableParallelism()));
    for (const bad of ['0', '65', '1.5', 'many']) expect(() => workers(bad)).toThrow(/WORKERS/);
    expect(() => workers('2', { CLIENT: 'dev' })).toThrow(/CLIENT=dev .* leave WORKERS unset/);
    // Worker i serves its metrics on METRICS_PORT + i - 1: PORT may not be one of them.
    expect(() => workers('3', { METRICS_PORT: '2998', PORT: '3000' })).toThrow(/PORT must be outside that range/);
    expect(workers('2', { METRICS_PORT: '2998', PORT: '3000' })).toBe(2);
  });

  it('takes the description helper\'s settings together, or none (off)', () => {
    expect(loadConfig({ DATA_DIR: tempDir() }).ai).toMatchObject({ baseUrl: undefined, model: undefined, timeoutMs: 30_000, perMinute: 10 });
    const on = loadConfig({ DATA_DIR: tempDir(), AI_BASE_URL: 'http://127.0.0.1:11434/v1', AI_MODEL: 'llama3.2', AI_TIMEOUT_SECONDS: '5' });
    expect(on.ai).toMatchObject({ baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.2', apiKey: undefined, timeoutMs: 5000 });
    expect(() => loadConfig({ DATA_DIR: tempDir(), AI_BASE_URL: 'http://127.0.0.1:11434/v1' })).toThrow(/AI_BASE_URL and AI_MODEL must be set together/);
    expect(() => loadConfig({ DATA_DIR: tempDir(), AI_MODEL: 'gpt-4o-mini' })).toThrow(/AI_BASE_URL and AI_MODEL/);
    expect(() => loadConfig({ DATA_DIR: tempDir(), AI_BASE_URL: 'ftp://x.test', AI_MODEL: 'm' })).toThrow(/AI_BASE_URL/);
  });
});
