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

  async function deliver({ purpose, mail }: MailJob, id: string): Promise<void> {
    if (!mail) return;
    const em = orm.em.fork();
    if (await em.count(MailMessageSchema, { purpose })) return;
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
    workerId = await boss.work<MailJob>(QUEUE, { batchSize: 1, pollingIntervalSeconds: 1 }, async (jobs) => {
      for (const job of jobs) {
        try {
          await deliver(job.data, job.id);
          if (job.data.mail) metrics.notification('mail', 'sent');
        } catch (error) {
          metrics.notification('mail', 'failed');
          logger.warn({ err: error, purpose: job.data.purpose }, 'mail delivery failed; it will be retried');
          throw error;
        }
      }
    });
  }

  /** Enqueues a message (or, with `null`, the same work without one); durable once this resolves. */
  async function send(purpose: string, mail: OutgoingMail | null): Promise<void> {
    // Retries are set per job: a queue keeps the options it was created with, whatever the config says now.
    await boss.send(QUEUE, { purpose, mail } satisfies MailJob, {
      id: jobId(purpose),
      retryLimit: RETRY_LIMIT,
      retryDelay: config.mail.retryDelaySeconds,
      retryBackoff: true,
    });
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
  return { start, send, mailbox, stop, usesMailbox: !transport, queue: boss, deliver: (purpose: string, mail: OutgoingMail, id: string) => deliver({ purpose, mail }, id) };
}
