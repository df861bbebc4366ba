import { Router, type Response } from 'express';
import { auditQuerySchema, type AuditQuery } from '@dropspot/protocol';
import { requireAdmin } from '../auth-middleware.ts';
import { parseQuery } from '../validate.ts';
import type { AuditService } from '../../modules/audit/audit.service.ts';

/** The admin audit log: JSON pages, or the whole filtered log as CSV (`?format=csv` or `/audit.csv`). */
export function auditRoutes(deps: { audit: AuditService }): Router {
  const { audit } = deps;
  const router = Router();

  async function sendCsv(res: Response, query: AuditQuery) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    res.status(200).type('text/csv; charset=utf-8').attachment(`dropspot-audit-${stamp}.csv`);
    await audit.exportCsv(query, res);
  }

  router.get('/audit', requireAdmin, async (req, res) => {
    const query = parseQuery(auditQuerySchema, req.query);
    if (query.format === 'csv') return sendCsv(res, query);
    res.json(await audit.page(query));
  });

  router.get('/audit.csv', requireAdmin, async (req, res) => {
    await sendCsv(res, parseQuery(auditQuerySchema, req.query));
  });

  return router;
}
