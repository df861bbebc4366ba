import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import type { Metrics } from '../observability/metrics.ts';
import { apiRouter, type ApiRouter } from './api-router.ts';

/**
 * HTTP duration by route template: each declared route names its template in `res.locals.route`
 * (`api-router.ts`); anything else is `unmatched` under /api and `web` elsewhere (the web client's
 * pages), so raw paths never become labels.
 */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : req.originalUrl.startsWith('/api/') ? 'unmatched' : 'web';
      metrics.http(req.method, route, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** `Authorization: Bearer <token>` against the configured token, in constant time (both sides hashed to one length). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const sent = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!sent) return false;
  return timingSafeEqual(sha256(sent), sha256(token));
}

const metricsText = z.string().describe('Prometheus text exposition format');

/** GET /metrics on the app's own port, for a scraper holding METRICS_TOKEN. */
export function metricsRoutes(metrics: Metrics, token: string): ApiRouter {
  const api = apiRouter();
  const doc = {
    tag: 'Operations',
    access: 'metrics',
    summary: 'Prometheus metrics (with METRICS_TOKEN)',
    description: 'Only when METRICS_TOKEN is set: `Authorization: Bearer <METRICS_TOKEN>`. Otherwise 404, or served on METRICS_PORT instead.',
    responses: { 200: { schema: metricsText, contentType: 'text/plain' } },
    errors: ['UNAUTHENTICATED'],
  } as const;
  api.get('/metrics', doc, async (req, res) => {
    if (!bearerMatches(req.get('authorization'), token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new DomainError('UNAUTHENTICATED', 'Send the metrics token as a bearer token.');
    }
    const { contentType, body } = await metrics.scrape();
    res.type(contentType).set('Cache-Control', 'no-store').send(body);
  });
  return api;
}

/**
 * A listener of its own for /metrics (METRICS_PORT), for a network only the scraper reaches.
 * With METRICS_TOKEN set too, it asks for the token here as well.
 */
export function startMetricsServer(metrics: Metrics, options: { port: number; host: string; token?: string }): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const answer = (status: number, text: string) => res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return answer(404, 'Not found: the metrics are at /metrics.\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'GET only.\n');
    if (options.token && !bearerMatches(req.headers.authorization, options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      return answer(401, 'Send the metrics token as a bearer token.\n');
    }
    metrics.scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      () => answer(500, 'The metrics could not be read.\n'),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
