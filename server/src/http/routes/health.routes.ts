import { z } from 'zod';
import { readinessSchema } from '@dropspot/protocol/api';
import { pingDatabase, type Orm } from '../../db/orm.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';

/** Liveness and readiness for load balancers and orchestrators (outside /api). */
export function healthRoutes(deps: { orm: Orm; redisStatus: () => 'off' | 'up' | 'down' }): ApiRouter {
  const api = apiRouter();
  const tag = 'Operations';
  api.get('/healthz', { tag, access: 'public', summary: 'The process is alive', responses: { 200: z.object({ status: z.literal('ok') }) } }, (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready when the database answers. Without Redis (when configured) the process still serves
  // its own clients, so it stays ready and says it is degraded.
  const readyDoc = {
    tag,
    access: 'public',
    summary: 'Ready to serve: the database answers',
    description: '`degraded` (still 200) while Redis is configured but unreachable.',
    responses: { 200: readinessSchema, 503: { description: 'Not ready: the database does not answer (Retry-After).', schema: readinessSchema } },
  } as const;
  api.get('/readyz', readyDoc, async (req, res) => {
    const redis = deps.redisStatus();
    try {
      await pingDatabase(deps.orm);
      res.json({ status: redis === 'down' ? 'degraded' : 'ready', database: 'up', redis });
    } catch (error) {
      req.log.warn({ err: error }, 'readiness check failed');
      res.status(503).setHeader('Retry-After', '2').json({ status: 'not-ready', database: 'down', redis });
    }
  });
  return api;
}
