import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import proxyaddr from 'proxy-addr';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.ts';
import type { Orm } from './db/orm.ts';
import { authenticate } from './http/auth-middleware.ts';
import { createActionLimits } from './http/action-limits.ts';
import { originCheck } from './http/csrf.ts';
import { DomainError } from './http/domain-error.ts';
import { notFoundHandler, problemHandler } from './http/problem.ts';
import { auditRoutes } from './modules/audit/audit.routes.ts';
import { createAuditService } from './modules/audit/audit.service.ts';
import { authRoutes } from './modules/auth/auth.routes.ts';
import { createAuthService, type EndedSession } from './modules/auth/auth.service.ts';
import { createEmailVerificationService } from './modules/auth/email-verification.service.ts';
import { identityRoutes } from './modules/auth/identity.routes.ts';
import { createPasswordResetService } from './modules/auth/password-reset.service.ts';
import { createMailer } from './modules/mail/mailer.ts';
import { createClaimService } from './modules/claims/claim.service.ts';
import { meRoutes } from './modules/claims/me.routes.ts';
import { adminRoutes } from './modules/drops/admin.routes.ts';
import { dropRoutes } from './modules/drops/drop.routes.ts';
import { createDropService } from './modules/drops/drop.service.ts';
import { createEventService } from './modules/events/event.service.ts';
import { eventRoutes } from './modules/events/event.routes.ts';
import { silentNotifier, type EventNotifier } from './modules/events/outbox.ts';
import { createRealtime, type Realtime, type RealtimeDeps } from './realtime/realtime.ts';
import { createPriorityFormula } from './modules/waitlist/priority.ts';
import { createWaitlistService } from './modules/waitlist/waitlist.service.ts';
import { accountRoutes } from './modules/users/account.routes.ts';
import { createAccountService } from './modules/users/account.service.ts';
import { createReservationService } from './modules/reservations/reservation.service.ts';

export interface AppDeps {
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
  /** Socket limits, lowered by tests. */
  realtimeLimits?: RealtimeDeps['limits'];
}

export type Services = ReturnType<typeof createServices>;

export function createServices(
  deps: Pick<AppDeps, 'config' | 'orm'> & {
    logger?: Logger;
    notifier?: EventNotifier;
    onSessionsEnded?: (ended: EndedSession[]) => void;
    onAccountDeleted?: (userId: string) => void;
  },
) {
  const formula = createPriorityFormula(deps.config.priority);
  const notifier = deps.notifier ?? silentNotifier;
  // Claims, joins, leaves and the PRIORITY line change what a drop page shows: its cached view goes after each commit.
  const changed: EventNotifier & { drop: (dropId: string) => void } = { committed: () => notifier.committed(), drop: (id) => drops.forget(id) };
  const reservations = createReservationService({ orm: deps.orm, formula, notifier: changed });
  const drops = createDropService({ orm: deps.orm, notifier, line: reservations });
  const auth = createAuthService(deps);
  const audit = createAuditService(deps);
  const mailer = createMailer({ config: deps.config, orm: deps.orm, logger: deps.logger ?? pino({ level: 'silent' }) });
  const verification = createEmailVerificationService({ orm: deps.orm, config: deps.config, mailer });
  const waitlist = createWaitlistService({ orm: deps.orm, formula, notifier: changed, line: reservations });
  const claims = createClaimService({ orm: deps.orm, notifier: changed, line: reservations });
  return {
    mailer,
    verification,
    passwordReset: createPasswordResetService({ orm: deps.orm, config: deps.config, mailer, auth }),
    formula,
    limits: createActionLimits(deps.config.rateLimits),
    auth,
    audit,
    account: createAccountService({ orm: deps.orm, auth, audit, notifier: changed, line: reservations, onAccountDeleted: deps.onAccountDeleted }),
    events: createEventService(deps),
    drops,
    reservations,
    // HTTP and sockets both call these, so an unverified address is refused the same way on both.
    waitlist: { ...waitlist, join: async (userId: string, dropId: string) => (await verification.requireVerified(userId), waitlist.join(userId, dropId)) },
    claims: { ...claims, claim: async (userId: string, dropId: string) => (await verification.requireVerified(userId), claims.claim(userId, dropId)) },
  };
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Bodies are JSON: anything else that carries a body is refused instead of being read as empty. */
const jsonOnly: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.');
  }
  next();
};

export interface App {
  app: express.Express;
  httpServer: Server;
  realtime: Realtime;
  services: Services;
  /** Starts the mail queue, connects Redis (when configured), loads the window timers and starts the event relay. */
  start: () => Promise<void>;
  /** Serves the web client (SvelteKit) for every path the API does not own. */
  serveClient: (handler: RequestHandler) => void;
  close: () => Promise<void>;
}

/**
 * Builds the whole application (HTTP API and Socket.IO on one server) without listening and
 * without globals, so tests build as many as they like against their own database.
 */
export function createApp(deps: AppDeps): App {
  const { config, orm, logger } = deps;
  // Services tell the realtime layer about commits; it exists only once the server does.
  const late: { realtime?: Realtime } = {};
  const services = createServices({
    ...deps,
    notifier: { committed: () => late.realtime?.notifier.committed() },
    onSessionsEnded: (ended) => late.realtime?.sessionsEnded(ended),
    onAccountDeleted: (userId) => late.realtime?.disconnectUser(userId),
  });
  const app = express();
  if (config.trustProxy !== undefined) app.set('trust proxy', config.trustProxy);

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      // One short line per request: who asked for what, and how it ended (no headers, no cookies).
      serializers: {
        req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(helmet());
  app.use(cors({ origin: config.corsOrigins, credentials: true }));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready when the database answers. Without Redis (when configured) the process still serves
  // its own clients, so it stays ready and says it is degraded.
  app.get('/readyz', async (req, res) => {
    const redis = late.realtime?.redisStatus() ?? 'off';
    try {
      await orm.em.getConnection().execute('select 1');
      res.json({ status: redis === 'down' ? 'degraded' : 'ready', database: 'up', redis });
    } catch (error) {
      req.log.warn({ err: error }, 'readiness check failed');
      res.status(503).setHeader('Retry-After', '2').json({ status: 'not-ready', database: 'down', redis });
    }
  });

  const api = express.Router();
  api.use(jsonOnly, express.json({ limit: config.bodyLimit, strict: true }), cookieParser());
  api.use(authenticate(services.auth), originCheck(config.corsOrigins));
  api.use('/auth', authRoutes({ auth: services.auth, config, verification: services.verification }));
  api.use(identityRoutes({ config, ...services }));
  api.use('/drops', dropRoutes({ orm, config, ...services }));
  api.use('/me', meRoutes(services), accountRoutes({ account: services.account, config }));
  api.use('/admin', eventRoutes({ events: services.events, auth: services.auth, onRevoke: (id) => late.realtime?.disconnectApiToken(id) }));
  api.use('/admin', adminRoutes(services));
  api.use('/admin', auditRoutes(services));
  api.get('/priority', (_req, res) => {
    res.json(services.formula.view);
  });
  app.use('/api', api);
  // The web client takes every other path once main.ts mounts it; tests and benchmarks run without.
  let client: RequestHandler | undefined;
  app.use((req, res, next) => (client ? client(req, res, next) : next()));
  app.use(notFoundHandler);
  app.use(problemHandler);

  const httpServer = createServer(app);
  const live = createRealtime({
    httpServer,
    config,
    orm,
    logger,
    services,
    // The same rule as Express's `req.ip`, so a socket and an HTTP request from one client count as one address.
    clientIp: (req) => proxyaddr(req, app.get('trust proxy fn') as Parameters<typeof proxyaddr>[1]),
    limits: deps.realtimeLimits,
  });
  late.realtime = live;
  return {
    app,
    httpServer,
    realtime: live,
    services,
    start: async () => {
      await services.mailer.start();
      await live.start();
    },
    serveClient: (handler) => {
      client = handler;
    },
    close: async () => {
      await live.close();
      await services.mailer.stop();
    },
  };
}
