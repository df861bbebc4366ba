import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
export { freePort } from './free-port.ts';
import { freePort } from './free-port.ts';
import { embeddedDatabaseUrl } from '../../../mikro-orm.config.ts';
import { initOrm } from '../../src/db/orm.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A connection to the server's maintenance database, for creating each file's database. */
    adminDatabaseUrl: string;
    /** The migrated database every test file's own database is copied from. */
    templateDatabase: string;
  }
}


export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function sql(url: string, query: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

/**
 * The tests' own PostgreSQL, never the dev data in `.data/`: a throw-away embedded PostgreSQL 17
 * in a temp folder, or the server named by TEST_DATABASE_URL. One template database is migrated
 * here; each test file then works in its own copy (support/app.ts), so files running in parallel
 * share neither rows nor the outbox.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const prefix = `dropspot_test_${process.pid}`;
  const template = `${prefix}_template`;
  let adminUrl: string;
  let stopServer = async () => {};
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    adminUrl = external;
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-test-pg-'));
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(import.meta.dirname, 'embedded-db-process.ts'), dir, String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('READY')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the test database exited with ${code} before it was ready`)));
    });
    adminUrl = embeddedDatabaseUrl(port, 'postgres');
    stopServer = async () => {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
      rmSync(dir, { recursive: true, force: true });
    };
  }
  await sql(adminUrl, `create database "${template}"`);
  const orm = await initOrm(withDatabase(adminUrl, template), { logger: () => {} });
  await orm.close();
  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('templateDatabase', template);

  return async () => {
    if (external) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [`${prefix}%`]);
      for (const { datname } of rows) await client.query(`drop database if exists "${datname}" with (force)`);
      await client.end();
    }
    await stopServer();
  };
}
