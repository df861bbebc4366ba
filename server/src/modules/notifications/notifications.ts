import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import type { Orm } from '../../db/orm.ts';
import { createQueues, type Mailer } from '../mail/mailer.ts';
import { noMetrics, type Metrics } from '../../observability/metrics.ts';
import { createPlanner, PLAN_QUEUE, SEND_QUEUE, type PlanJob, type SendJob } from './planner.ts';
import { createNotificationPreferences } from './preferences.service.ts';
import { createSender } from './sender.ts';
import { createPushSender } from './web-push.ts';

const BATCH = 500;
/** Send jobs a worker takes at once (sent side by side), and workers per process. */
const SEND_BATCH = 20;
const SEND_WORKERS = 4;

/**
 * Notifications, off the claim path: services only write their outbox events, as before. A
 * planner reads the published events after a durable cursor and, in the transaction that moves
 * the cursor, writes the notifications (unique per user, drop, kind and channel) with their send
 * jobs on the pg-boss queue the mailer runs (and the triggers of the timed kinds, due at their
 * instant). Workers in every process send them; a restart resumes from the cursor and the queue.
 */
export function createNotifications(deps: {
  orm: Orm;
  config: Readonly<Config>;
  logger: Logger;
  mailer: Mailer;
  metrics?: Metrics;
  /**
   * Resolves when the server is not busy (or after a bounded wait): the send worker gives way to a
   * claim storm before each batch it plans or sends. None: never wait.
   */
  whenQuiet?: () => Promise<void>;
}) {
  const { orm, config, mailer } = deps;
  const logger = deps.logger.child({ component: 'notifications' });
  const boss = mailer.queue;
  const push = createPushSender(config);
  const preferences = createNotificationPreferences({ orm, config, push });
  const sendOptions = (): PgBoss.JobInsert => ({
    name: SEND_QUEUE,
    retryLimit: 10,
    retryDelay: config.mail.retryDelaySeconds,
    retryBackoff: true,
    expireInSeconds: 120,
  });
  const planner = createPlanner({ config, boss, sendOptions });
  const sender = createSender({ orm, config, mailer, push, boss, logger, sendOptions, metrics: deps.metrics ?? noMetrics });
  const workers: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;

  const wake = () => workers.forEach((id) => boss.notifyWorker(id));
  const whenQuiet = deps.whenQuiet ?? (() => Promise.resolve());

  async function drain(): Promise<void> {
    do {
      again = false;
      let planned: number;
      do {
        await whenQuiet();
        planned = await orm.em.fork().transactional((em) => (config.notifications.enabled ? planner.planBatch(em, BATCH) : planner.skipAll(em).then(() => 0)));
        if (planned > 0) wake();
      } while (planned === BATCH && !stopped);
    } while (again && !stopped);
  }

  function poke(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((error: unknown) => logger.warn({ err: error }, 'notification planning failed; will retry'))
      .finally(() => {
        running = undefined;
      });
  }

  /**
   * Creates the queues; with `work`, this process also plans and sends (the send worker, or the
   * server itself with SEND_WORKER=inline). Without it, nothing runs here and `poke` does nothing.
   */
  async function start(options: { work: boolean } = { work: true }): Promise<void> {
    await createQueues(boss, [SEND_QUEUE, PLAN_QUEUE]);
    if (!options.work) return;
    stopped = false;
    if (config.notifications.enabled) {
      const handle = async (jobs: PgBoss.Job<SendJob>[]) => {
        await whenQuiet();
        const results = await Promise.allSettled(jobs.map((job) => sender.sendOne(job.data.id)));
        const failed = results.filter((r) => r.status === 'rejected');
        // The batch is retried as a whole; what was sent is recorded and skipped the next time.
        if (failed.length > 0) throw (failed[0] as PromiseRejectedResult).reason;
      };
      for (let i = 0; i < SEND_WORKERS; i++) workers.push(await boss.work<SendJob>(SEND_QUEUE, { batchSize: SEND_BATCH, pollingIntervalSeconds: 0.5 }, handle));
      workers.push(
        await boss.work<PlanJob>(PLAN_QUEUE, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
          if (job && (await sender.runPlan(job.data)) > 0) wake();
        }),
      );
    }
    timer = setInterval(poke, 500);
    timer.unref();
    poke();
  }

  /** Stops planning (the workers stop with the queue, after the jobs they hold). */
  async function stop(): Promise<void> {
    stopped = true;
    clearInterval(timer);
    await running;
  }

  return { preferences, push, start, stop, poke };
}

export type Notifications = ReturnType<typeof createNotifications>;
