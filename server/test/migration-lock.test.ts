import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { closeOrm, initOrm } from '../src/db/orm.ts';
import { withDatabase } from './support/global-setup.ts';

const database = `dropspot_lock_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const cliDatabase = `dropspot_cli_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}
afterAll(async () => {
  await admin(`drop database if exists "${database}" with (force)`);
  await admin(`drop database if exists "${cliDatabase}" with (force)`);
});

describe('migrations at start', () => {
  it('several processes starting at once on an empty database (replicas after an upgrade) all start, and each migration runs once', async () => {
    await admin(`create database "${database}"`);
    const url = withDatabase(inject('adminDatabaseUrl'), database);
    const started = await Promise.allSettled(Array.from({ length: 3 }, () => initOrm(url, { pool: { min: 0, max: 3 }, logger: () => {} })));
    for (const result of started) if (result.status === 'fulfilled') await closeOrm(result.value);
    expect(started.map((result) => (result.status === 'rejected' ? String(result.reason) : 'started'))).toEqual(['started', 'started', 'started']);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ name: string }>('select name from mikro_orm_migrations');
    await client.end();
    const files = readdirSync(path.join(ROOT_DIR, 'migrations')).filter((file) => /^Migration\d+\.ts$/.test(file));
    expect(rows.length).toBe(files.length);
    expect(new Set(rows.map((row) => row.name)).size).toBe(files.length);
  });
});

describe('npm run migration:up', () => {
  it('applies every committed migration to an empty database and says which, with nothing but DATABASE_URL (production, no secrets); run again, it has nothing to apply', async () => {
    await admin(`create database "${cliDatabase}"`);
    const url = withDatabase(inject('adminDatabaseUrl'), cliDatabase);
    const run = () =>
      promisify(execFile)(process.execPath, [path.join(ROOT_DIR, 'server/src/cli/migrate.ts')], { cwd: ROOT_DIR, env: { PATH: process.env.PATH, DATABASE_URL: url, NODE_ENV: 'production' } });
    const files = readdirSync(path.join(ROOT_DIR, 'migrations')).filter((file) => /^Migration\d+\.ts$/.test(file));
    const first = await run();
    expect(first.stdout).toContain(`Applied ${files.length} migrations:`);
    for (const file of files) expect(first.stdout).toContain(file.replace(/\.ts$/, ''));
    expect((await run()).stdout).toContain('Nothing to apply: the schema is up to date.');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from mikro_orm_migrations');
    await client.end();
    expect(rows[0]!.n).toBe(files.length);
  });
});
