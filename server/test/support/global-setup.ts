import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { embeddedDatabaseUrl } from '../../../mikro-orm.config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { initOrm } from '../../src/db/orm.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The tests' own database, never the dev data in `.data/`: a throw-away embedded PostgreSQL 17
 * in a temp folder, or a fresh database on the server named by TEST_DATABASE_URL. Migrated once.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url: string;
  let teardown: () => Promise<void>;
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    const name = `dropspot_test_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: external });
    await admin.connect();
    await admin.query(`create database "${name}"`);
    await admin.end();
    const parsed = new URL(external);
    parsed.pathname = `/${name}`;
    url = parsed.toString();
    teardown = async () => {
      const client = new pg.Client({ connectionString: external });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    };
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dropspot-test-pg-'));
    const port = await freePort();
    const embedded = await startEmbeddedPostgres({ dataDir: dir, port, persistent: false });
    url = embeddedDatabaseUrl(port);
    teardown = async () => {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const orm = await initOrm(url, { logger: () => {} });
  await orm.close();
  project.provide('databaseUrl', url);
  return teardown;
}
