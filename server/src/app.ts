import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import proxyaddr from 'proxy-addr';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.ts';
import type { Orm } from './db/orm.ts';
import { authenticate } from './http/auth-middleware.ts';
import { originCheck } from './http/csrf.ts';
import { DomainError } from './domain/errors.ts';
import { priorityFormulaViewSchema } from '@dropspot/protocol/api';
import { internalHop } from './http/internal-hop.ts';
import { notFoundHandler, problemHandler } from './http/problem.ts';
import { wellFormedInput } from './http/validate.ts';
import { auditRoutes } from './http/routes/audit.routes.ts';
import { authRoutes } from './http/routes/auth.routes.ts';
import { lowerThreadPoolPriority } from './modules/auth/password.ts';
import { identityRoutes } from './http/routes/identity.routes.ts';
import { meRoutes } from './http/routes/me.routes.ts';
import { powRoutes } from './http/routes/pow.routes.ts';
import { adminRoutes } from './http/routes/admin.routes.ts';
import { aiRoutes } from './http/routes/ai.routes.ts';
import { dropRoutes } from './http/routes/drop.routes.ts';
import { eventRoutes } from './http/routes/event.routes.ts';
import { webhookRoutes } from './http/routes/webhook.routes.ts';
import { createServices, type Services } from './services.ts';
import { createSignalHub, type SignalHub } from './domain/signals.ts';
import { createRealtime, type Realtime, type RealtimeDeps } from './realtime/realtime.ts';
import { accountRoutes } from './http/routes/account.routes.ts';
import { apiRouter, createRouteRegistry } from './http/api-router.ts';
import { docsRoutes } from './http/routes/docs.routes.ts';
import { healthRoutes } from './http/routes/health.routes.ts';
import { httpMetrics, metricsRoutes, startMetricsServer } from './http/metrics-endpoint.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { watchDatabaseGauges } from './observability/database-gauges.ts';
import { notificationRoutes } from './http/routes/notification.routes.ts';

export interface AppDeps {
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
  /** Socket limits, lowered by tests. */
  realtimeLimits?: RealtimeDeps['limits'];
  /** A worker of WORKERS=N without REDIS_URL (see cluster.ts): rooms span the workers through the primary. */
  clusterAdapter?: boolean;
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
  /** The domain's signals: `committed()` wakes the event relay (tests that write events directly use it). */
  signals: SignalHub;
  /** Starts the mail queue, connects Redis (when configured), loads the window timers and starts the event relay. */
  start: () => Promise<void>;
  /** Serves the web client (SvelteKit) for every path the API does not own. */
  serveClient: (handler: RequestHandler) => void;
  /** Prometheus metrics (no-ops unless METRICS_TOKEN or METRICS_PORT is set). */
  metrics: Metrics;
  /** The METRICS_PORT listener, once started. */
  metricsServer: () => Server | undefined;
  close: () => Promise<void>;
}

/**
 * Builds the whole application (HTTP API and Socket.IO on one server) without listening and
 * without globals, so tests build as many as they like against their own database.
 */
export function createApp(deps: AppDeps): App {
  const { config, orm, logger } = deps;
  // Services tell the realtime layer about commits through the hub; it subscribes once it exists.
  const signals = createSignalHub();
  const metrics = createMetrics({ enabled: config.metrics.enabled });
  const services = createServices({ ...deps, metrics, notifier: signals, onSessionsEnded: signals.sessionsEnded, onAccountDeleted: signals.accountDeleted });
  const app = express();
  if (config.trustProxy !== undefined) app.set('trust proxy', config.trustProxy);
  app.use(internalHop());
  if (metrics.enabled) app.use(httpMetrics(metrics));

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
  // `same-origin` instead of helmet's `no-referrer`: still nothing leaves the site, but a form
  // posted without JavaScript keeps its Origin header (under no-referrer browsers send
  // `Origin: null`), which SvelteKit's origin check of form actions needs.
  app.use(helmet({ referrerPolicy: { policy: 'same-origin' } }));
  app.use(cors({ origin: config.corsOrigins, credentials: true }));
  // Every route is declared with its description once (http/api-router.ts): the router and the OpenAPI document both read it.
  const registry = createRouteRegistry();
  registry.mount(app, '', '/', healthRoutes({ orm, redisStatus: () => live.redisStatus() }));
  if (config.metrics.token) registry.mount(app, '', '/', metricsRoutes(metrics, config.metrics.token));

  const api = express.Router();
  api.use(jsonOnly, express.json({ limit: config.bodyLimit, strict: true }), wellFormedInput, cookieParser());
  api.use(authenticate(services.auth), originCheck(config.corsOrigins));
  const mount = (path: string, ...routers: Parameters<typeof registry.mount>[3][]) => registry.mount(api, '/api', path, ...routers);
  mount('/auth', authRoutes({ auth: services.auth, config, verification: services.verification, pow: services.pow }));
  mount('/', powRoutes({ pow: services.pow, config }));
  mount('/', identityRoutes({ config, ...services }));
  mount('/drops', dropRoutes({ orm, config, ...services }));
  mount('/me', meRoutes(services), accountRoutes({ account: services.account, config }));
  mount('/me', notificationRoutes({ preferences: services.notifications.preferences, config }));
  mount('/admin', eventRoutes({ events: services.events, auth: services.auth, onRevoke: (id) => live.disconnectApiToken(id) }));
  mount('/admin', adminRoutes(services));
  mount('/admin', auditRoutes(services));
  mount('/admin', aiRoutes({ ai: services.ai, config }));
  mount('/admin', webhookRoutes(services));
  const priority = apiRouter();
  priority.get('/priority', { tag: 'Drops', access: 'public', summary: 'The live priority formula: what a drop published now will keep', responses: { 200: priorityFormulaViewSchema } }, (_req, res) => {
    res.json(services.formula.view);
  });
  mount('/', priority, docsRoutes({ routes: () => registry.routes }));
  // Every path under /api is the API's: an unknown one is a 404 problem here, never the web
  // client's HTML page or its text/plain cross-site refusal.
  api.use(notFoundHandler);
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
    signals,
    // The same rule as Express's `req.ip`, so a socket and an HTTP request from one client count as one address.
    clientIp: (req) => proxyaddr(req, app.get('trust proxy fn') as Parameters<typeof proxyaddr>[1]),
    limits: deps.realtimeLimits,
    clusterAdapter: deps.clusterAdapter,
    metrics,
    // Published events are where webhook deliveries and notifications start from: wake both.
    published: () => {
      services.webhookDispatcher.poke();
      services.notifications.poke();
    },
  });
  const stopDatabaseGauges = watchDatabaseGauges(metrics, orm);
  let metricsServer: Server | undefined;
  return {
    app,
    httpServer,
    realtime: live,
    services,
    signals,
    start: async () => {
      // The hashes (libuv's pool) yield the cores to the event loop: claims keep flowing during a wave of sign-ups.
      await lowerThreadPoolPriority();
      // Mail and notifications are sent here only with SEND_WORKER=inline; otherwise by the send
      // worker (server/src/send-worker.ts), which main.ts forks at a lower CPU priority.
      const work = config.sendWorker.mode === 'inline';
      await services.mailer.start({ work });
      await services.notifications.start({ work });
      await live.start();
      const { port, host, token } = config.metrics;
      if (port !== undefined) metricsServer = await startMetricsServer(metrics, { port, host, token });
      services.webhookDispatcher.start();
    },
    serveClient: (handler) => {
      client = handler;
    },
    metrics,
    metricsServer: () => metricsServer,
    close: async () => {
      stopDatabaseGauges();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      await live.close();
      await services.webhookDispatcher.stop();
      await services.notifications.stop();
      await services.mailer.stop();
    },
  };
}
