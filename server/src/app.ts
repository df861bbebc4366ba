import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.ts';
import type { Orm } from './db/orm.ts';
import { authenticate } from './http/auth-middleware.ts';
import { originCheck } from './http/csrf.ts';
import { DomainError } from './http/domain-error.ts';
import { notFoundHandler, problemHandler } from './http/problem.ts';
import { authRoutes } from './modules/auth/auth.routes.ts';
import { createAuthService } from './modules/auth/auth.service.ts';
import { createClaimService } from './modules/claims/claim.service.ts';
import { meRoutes } from './modules/claims/me.routes.ts';
import { adminRoutes } from './modules/drops/admin.routes.ts';
import { dropRoutes } from './modules/drops/drop.routes.ts';
import { createDropService } from './modules/drops/drop.service.ts';
import { createPriorityFormula } from './modules/waitlist/priority.ts';
import { createWaitlistService } from './modules/waitlist/waitlist.service.ts';

export interface AppDeps {
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
}

export type Services = ReturnType<typeof createServices>;

export function createServices(deps: Pick<AppDeps, 'config' | 'orm'>) {
  const formula = createPriorityFormula(deps.config.priority);
  return {
    formula,
    auth: createAuthService(deps),
    drops: createDropService(deps),
    waitlist: createWaitlistService({ orm: deps.orm, formula }),
    claims: createClaimService(deps),
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

/**
 * Builds the whole application without listening and without globals, so tests build as many
 * as they like against their own database.
 */
export function createApp(deps: AppDeps): { app: express.Express; httpServer: Server; services: Services; close: () => Promise<void> } {
  const { config, orm, logger } = deps;
  const services = createServices(deps);
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
  app.get('/readyz', async (req, res) => {
    try {
      await orm.em.getConnection().execute('select 1');
      res.json({ status: 'ready', database: 'up' });
    } catch (error) {
      req.log.warn({ err: error }, 'readiness check failed');
      res.status(503).setHeader('Retry-After', '2').json({ status: 'not-ready', database: 'down' });
    }
  });

  const api = express.Router();
  api.use(jsonOnly, express.json({ limit: config.bodyLimit, strict: true }), cookieParser());
  api.use(authenticate(services.auth), originCheck(config.corsOrigins));
  api.use('/auth', authRoutes({ auth: services.auth, config }));
  api.use('/drops', dropRoutes({ orm, config, ...services }));
  api.use('/me', meRoutes(services));
  api.use('/admin', adminRoutes(services));
  api.get('/priority', (_req, res) => {
    res.json(services.formula.view);
  });
  app.use('/api', api);
  app.use(notFoundHandler);
  app.use(problemHandler);

  const httpServer = createServer(app);
  return {
    app,
    httpServer,
    services,
    close: async () => {
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}
