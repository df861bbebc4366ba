import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from './observability/metrics.ts';

/** What the send worker tells the server that forked it. */
export type WorkerMessage = { type: 'ready' } | { type: 'notification'; channel: 'mail' | 'push'; result: 'sent' | 'failed' | 'gone' };
/** What the server tells its send worker: whether its event loop is busy (a claim storm). */
export type ServerMessage = { type: 'busy'; busy: boolean };

/** How often the server's event-loop utilisation is sampled, and the share above which it counts as busy. */
const SAMPLE_MS = 200;
const BUSY_UTILISATION = 0.5;

/**
 * The worker's side of "the server is busy": `whenQuiet` resolves at once while the server is not
 * busy, else when it says it is no longer busy or after `maxWaitMs`, whichever comes first (a
 * storm that lasts slows the sending down, never stops it).
 */
export function quietGate(maxWaitMs: number) {
  let busy = false;
  const waiting = new Set<() => void>();
  return {
    set(value: boolean): void {
      busy = value;
      if (!busy) for (const resume of [...waiting]) resume();
    },
    whenQuiet: (): Promise<void> =>
      busy
        ? new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              waiting.delete(done);
              resolve();
            };
            const timer = setTimeout(done, maxWaitMs);
            waiting.add(done);
          })
        : Promise.resolve(),
  };
}

/**
 * Samples this process's event-loop utilisation and calls `changed` when it crosses the busy
 * share, either way; returns the stop.
 */
export function watchBusy(changed: (busy: boolean) => void): () => void {
  let busy = false;
  let last = performance.eventLoopUtilization();
  const sampler = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const nowBusy = performance.eventLoopUtilization(now, last).utilization > BUSY_UTILISATION;
    last = now;
    if (nowBusy === busy) return;
    busy = nowBusy;
    changed(busy);
  }, SAMPLE_MS);
  sampler.unref();
  return () => clearInterval(sampler);
}

const WORKER = path.join(import.meta.dirname, 'send-worker.ts');
/** A worker that ran this long before it ended was healthy: the next restart waits the shortest delay again. */
const HEALTHY_MS = 30_000;

/**
 * Forks the send worker (send-worker.ts) on the server's database and keeps one running: one that
 * ends unexpectedly is started again after 1 s, doubling to 30 s while it keeps failing. Its log
 * lines go to this process's output; its deliveries are counted in this process's metrics; it is
 * told when this process's event loop is busy, and then holds its next batch for a while.
 * The queue is durable, so what a dead worker held is sent by the next one.
 */
export function superviseSendWorker(deps: {
  databaseUrl: string;
  logger: Logger;
  metrics: Pick<Metrics, 'notification'>;
  /** Where "the server is busy" comes from: this process's event loop unless given. */
  busy?: (changed: (busy: boolean) => void) => () => void;
}) {
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
      else if (message.type === 'ready') {
        markReady();
        if (busy) worker.send({ type: 'busy', busy } satisfies ServerMessage, () => {});
      }
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

  // A nice value yields the CPU, but the worker's queries run in PostgreSQL at full priority and a
  // loopback mail server competes too: while the server's event loop is busy (a storm of claims),
  // the worker is told so and holds its next batch (see createNotifications' whenQuiet). Under
  // WORKERS=N the busy loops are the workers' (cluster.ts hands their reports in as `busy`).
  let busy = false;
  const stopWatching = (deps.busy ?? watchBusy)((nowBusy) => {
    busy = nowBusy;
    if (child?.connected) child.send({ type: 'busy', busy } satisfies ServerMessage, () => {});
  });

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
      stopWatching();
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
