import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from './observability/metrics.ts';

/** What the send worker tells the server that forked it. */
export type WorkerMessage = { type: 'ready' } | { type: 'notification'; channel: 'mail' | 'push'; result: 'sent' | 'failed' | 'gone' };

const WORKER = path.join(import.meta.dirname, 'send-worker.ts');
/** A worker that ran this long before it ended was healthy: the next restart waits the shortest delay again. */
const HEALTHY_MS = 30_000;

/**
 * Forks the send worker (send-worker.ts) on the server's database and keeps one running: one that
 * ends unexpectedly is started again after 1 s, doubling to 30 s while it keeps failing. Its log
 * lines go to this process's output; its deliveries are counted in this process's metrics.
 * The queue is durable, so what a dead worker held is sent by the next one.
 */
export function superviseSendWorker(deps: { databaseUrl: string; logger: Logger; metrics: Pick<Metrics, 'notification'> }) {
  const logger = deps.logger.child({ component: 'send-worker' });
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let restart: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const firstReady = new Promise<void>((resolve) => (markReady = resolve));

  function spawnWorker(): void {
    const started = Date.now();
    const worker = fork(WORKER, [], {
      env: { ...process.env, DATABASE_URL: deps.databaseUrl },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = worker;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'notification') deps.metrics.notification(message.channel, message.result);
      else if (message.type === 'ready') markReady();
    });
    worker.once('exit', (code, signal) => {
      if (child === worker) child = undefined;
      if (stopping) return;
      failures = Date.now() - started > HEALTHY_MS ? 1 : failures + 1;
      const delay = Math.min(30_000, 1000 * 2 ** (failures - 1));
      logger.error({ code, signal, restartInMs: delay }, 'the send worker ended unexpectedly; starting another');
      restart = setTimeout(spawnWorker, delay);
    });
  }

  spawnWorker();
  return {
    /** The running worker's process id (for tests and operators), if one runs. */
    pid: () => child?.pid,
    /** Resolves once the first worker is up (the bench waits for it, so its start-up is not measured). */
    ready: () => firstReady,
    /** Stops the worker (SIGTERM: it finishes the messages it holds), killing it after `timeoutMs`. */
    async stop(timeoutMs = 15_000): Promise<void> {
      stopping = true;
      clearTimeout(restart);
      const worker = child;
      if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
      const exited = once(worker, 'exit');
      worker.kill('SIGTERM');
      const timer = setTimeout(() => {
        logger.warn('the send worker did not stop in time; killing it');
        worker.kill('SIGKILL');
      }, timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export type SendWorker = ReturnType<typeof superviseSendWorker>;
