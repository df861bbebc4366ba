import type { Response } from 'express';
import { auditQuerySchema, type AuditQuery } from '@dropspot/protocol';
import { auditPageSchema } from '@dropspot/protocol/api';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { parseQuery } from '../validate.ts';
import type { AuditService } from '../../modules/audit/audit.service.ts';

/** The admin audit log: JSON pages, or the whole filtered log as CSV (`?format=csv` or `/audit.csv`). */
export function auditRoutes(deps: { audit: AuditService }): ApiRouter {
  const { audit } = deps;
  const api = apiRouter();
  const tag = 'Admin';
  const csv = { description: 'The whole filtered log as CSV (a download).', contentType: 'text/csv' };

  async function sendCsv(res: Response, query: AuditQuery) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    res.status(200).type('text/csv; charset=utf-8').attachment(`dropspot-audit-${stamp}.csv`);
    await audit.exportCsv(query, res);
  }

  const pageDoc = {
    tag,
    access: 'admin',
    summary: 'The admin audit log, newest first',
    description: 'JSON pages, or with `format=csv` the whole filtered log as CSV.',
    query: auditQuerySchema,
    responses: { 200: { description: 'A page (JSON), or the CSV with format=csv.', schema: auditPageSchema, alsoAs: ['text/csv'] } },
  } as const;
  api.get('/audit', pageDoc, async (req, res) => {
    const query = parseQuery(auditQuerySchema, req.query);
    if (query.format === 'csv') return sendCsv(res, query);
    res.json(await audit.page(query));
  });

  api.get('/audit.csv', { tag, access: 'admin', summary: 'The whole filtered audit log as CSV', query: auditQuerySchema, responses: { 200: csv } }, async (req, res) => {
    await sendCsv(res, parseQuery(auditQuerySchema, req.query));
  });

  return api;
}
