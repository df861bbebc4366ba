import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Config } from '../../config.ts';
import { isTransientConflict } from '../../db/failures.ts';
import { db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { MailMessageSchema, type MailMessage } from './mail-message.entity.ts';
import { noMetrics, type Metrics } from '../../observability/metrics.ts';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Images shown inside the message (`<img src="cid:…">`): carried in it, nothing fetched when it is opened. */
  inline?: { cid: string; filename: string; contentType: string; content: Buffer }[];
}

/** A job: what to send, or nothing (a reset asked for an unknown address costs the same, sends nothing). */
interface MailJob {
  purpose: string;
  mail: OutgoingMail | null;
}

const QUEUE = 'mail';
/** pg-boss keeps its tables in their own schema, beside (never inside) the app's migrations. */
export const MAIL_QUEUE_SCHEMA = 'pgboss';
const RETRY_LIMIT = 10;
/**
 * Jobs one fetch of the worker takes. A fetch that comes back full is followed by the next at once;
 * otherwise the worker polls every POLL_SECONDS. (One job a fetch, as before, was one mail a second
 * from a worker in another process than the one enqueueing: nothing woke it earlier.)
 */
const BATCH = 20;
const POLL_SECONDS = 1;

/** The job's id follows from its purpose, so enqueueing the same purpose twice adds nothing. */
function jobId(purpose: string): string {
  const hex = createHash('sha256').update(purpose).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export type Mailer = ReturnType<typeof createMailer>;

/**
 * Creates pg-boss queues that may not exist yet. pg-boss makes a new queue's partition with DDL,
 * and processes creating the first queues of a database at once (WORKERS=N, or replicas, started
 * together on a fresh database) deadlock: PostgreSQL aborts one, which tries again and then finds
 * the queue made by the other (creating an existing queue changes nothing).
 */
export async function createQueues(boss: PgBoss, names: string[]): Promise<void> {
  for (const name of names) {
    for (let attempt = 1; ; attempt++) {
      try {
        await boss.createQueue(name);
        break;
      } catch (error) {
        if (!isTransientConflict(error) || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * attempt));
      }
    }
  }
}

/**
 * Durable mail: `send` writes a job to PostgreSQL (pg-boss) and returns; a worker delivers it,
 * retrying with doubling delays when SMTP fails, from whichever process runs next if this one
 * stops. One purpose (`verify:<token id>`, `reset:<token id>`) is delivered at most once: the job
 * id is derived from it, and the worker records each delivery under the purpose's unique key and
 * skips a purpose already recorded (a retry after a send whose completion was lost).
 * Without SMTP_URL the message is delivered to the development mailbox: stored whole in the
 * database and logged with its text, so the links can be clicked with no mail server.
 */
export function createMailer(deps: { config: Readonly<Config>; orm: Orm; logger: Logger; metrics?: Metrics }) {
  const { config, orm, logger } = deps;
  const metrics = deps.metrics ?? noMetrics;
  // Pooled: a burst of notifications reuses a few open connections instead of one handshake per message.
  const transport = config.mail.smtpUrl ? nodemailer.createTransport({ url: config.mail.smtpUrl, pool: true, maxConnections: 3 }) : undefined;
  const boss = new PgBoss({
    connectionString: orm.config.get('clientUrl'),
    schema: MAIL_QUEUE_SCHEMA,
    application_name: 'dropspot-mail',
    max: 2,
    // Completed jobs carry the message, links included: they leave the queue's tables soon.
    archiveCompletedAfterSeconds: 60,
    deleteAfterSeconds: 60,
  });
  boss.on('error', (error) => logger.warn({ err: error }, 'mail queue error'));
  let workerId: string | undefined;

  /** `recorded`: the purposes already delivered, read for a whole batch; without it, this one is looked up. */
  async function deliver({ purpose, mail }: MailJob, id: string, recorded?: ReadonlySet<string>): Promise<void> {
    if (!mail) return;
    const em = orm.em.fork();
    if (recorded ? recorded.has(purpose) : await em.count(MailMessageSchema, { purpose })) return;
    if (transport) {
      const attachments = mail.inline?.map((a) => ({ cid: a.cid, filename: a.filename, contentType: a.contentType, content: a.content, contentDisposition: 'inline' as const }));
      await transport.sendMail({ from: config.mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, attachments });
      logger.info({ purpose, to: mail.to }, 'mail sent');
    } else {
      logger.info({ purpose, to: mail.to, subject: mail.subject }, `development mailbox (no SMTP_URL):\n${mail.text}`);
    }
    const kept = transport ? { text: null, html: null } : { text: mail.text, html: mail.html };
    await db(em)
      .insertInto('mail_message')
      .values({ id, purpose, recipient: mail.to, subject: mail.subject, text: kept.text, html: kept.html, transport: transport ? 'smtp' : 'mailbox', sentAt: sql<Date>`now()` })
      .onConflict((conflict) => conflict.column('purpose').doNothing())
      .execute();
  }

  /** Starts the queue; with `work`, this process also delivers (otherwise it only enqueues). */
  async function start(options: { work: boolean } = { work: true }): Promise<void> {
    await boss.start();
    await createQueues(boss, [QUEUE]);
    if (!options.work) return;
    const id = await boss.work<MailJob>(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: POLL_SECONDS }, async (jobs) => {
      // Side by side (the transport's pool bounds the SMTP connections). A failed delivery fails
      // its own job, retried on its own; pg-boss then completes the rest of the batch (only jobs
      // still active are completed).
      const failed: { id: string; error: unknown }[] = [];
      // Which of them were already delivered (a retry after a completion was lost): one query for the batch.
      const purposes = jobs.filter((job) => job.data.mail).map((job) => job.data.purpose);
      const recorded = new Set(
        purposes.length === 0 ? [] : (await db(orm.em.fork()).selectFrom('mail_message').select('purpose').where('purpose', 'in', purposes).execute()).map((row) => row.purpose),
      );
      await Promise.all(
        jobs.map(async (job) => {
          try {
            await deliver(job.data, job.id, recorded);
            if (job.data.mail) metrics.notification('mail', 'sent');
          } catch (error) {
            metrics.notification('mail', 'failed');
            logger.warn({ err: error, purpose: job.data.purpose }, 'mail delivery failed; it will be retried');
            failed.push({ id: job.id, error });
          }
        }),
      );
      for (const { id: jobId, error } of failed) await boss.fail(QUEUE, jobId, { message: error instanceof Error ? error.message : String(error) });
      // A full batch: more are probably waiting, fetch again without waiting for the next poll.
      if (jobs.length === BATCH) boss.notifyWorker(id);
    });
    workerId = id;
  }

  // Retries are set per job: a queue keeps the options it was created with, whatever the config says now.
  const jobOptions = (purpose: string) => ({ id: jobId(purpose), retryLimit: RETRY_LIMIT, retryDelay: config.mail.retryDelaySeconds, retryBackoff: true });

  /** Enqueues a message (or, with `null`, the same work without one); durable once this resolves. */
  async function send(purpose: string, mail: OutgoingMail | null): Promise<void> {
    await boss.send(QUEUE, { purpose, mail } satisfies MailJob, jobOptions(purpose));
    enqueued();
  }

  /**
   * The statement `send` would run, pg-boss's own (its validation, its SQL, its numbered
   * parameters), handed to a caller who runs it inside its own statement or transaction: the job
   * then exists if and only if the caller's writes commit. Nothing is written here; call
   * `enqueued()` once the caller has committed.
   */
  async function jobStatement(purpose: string, mail: OutgoingMail | null): Promise<{ text: string; values: unknown[] }> {
    let statement: { text: string; values: unknown[] } | undefined;
    const capture: PgBoss.Db = {
      executeSql: async (text, values) => {
        statement = { text, values };
        return { rows: [{ id: jobId(purpose) }] };
      },
    };
    await boss.send(QUEUE, { purpose, mail } satisfies MailJob, { ...jobOptions(purpose), db: capture });
    if (!statement) throw new Error('pg-boss wrote no statement for the job');
    return statement;
  }

  /** A worker in this process (SEND_WORKER=inline) looks at the queue now rather than at its next poll. */
  function enqueued(): void {
    if (workerId) boss.notifyWorker(workerId);
  }

  /** The development mailbox, newest first; empty when mail goes out over SMTP. */
  async function mailbox(limit = 50): Promise<MailMessage[]> {
    if (transport) return [];
    return orm.em.fork().find(MailMessageSchema, { transport: 'mailbox' }, { orderBy: { sentAt: 'desc' }, limit });
  }

  async function stop(): Promise<void> {
    await boss.stop({ graceful: true, wait: true, timeout: 5000 });
    transport?.close();
  }

  /**
   * The queue itself, for other durable work (notifications) that shares its schema and worker
   * pool; and delivery now, from such a worker, with the same once-per-purpose record.
   */
  return { start, send, jobStatement, enqueued, mailbox, stop, usesMailbox: !transport, queue: boss, deliver: (purpose: string, mail: OutgoingMail, id: string) => deliver({ purpose, mail }, id) };
}
