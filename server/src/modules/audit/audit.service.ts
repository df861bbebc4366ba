import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { AuditEntryView, AuditQuery, Page } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { AuditEntrySchema, type AuditEntry } from './audit.entity.ts';

export type AuditService = ReturnType<typeof createAuditService>;

export const AUDIT_CSV_COLUMNS = ['id', 'at', 'actorId', 'actorEmail', 'actorIp', 'action', 'dropId', 'targetId', 'details'] as const;

const EXPORT_CHUNK = 500;

export function toAuditEntryView(row: AuditEntry): AuditEntryView {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actorId: row.actorId ?? null,
    actorEmail: row.actorEmail ?? null,
    actorIp: row.actorIp ?? null,
    action: row.action,
    dropId: row.dropId ?? null,
    targetId: row.targetId ?? null,
    details: row.details,
  };
}

/** Reads the admin audit log (newest first) as pages or as one CSV export. */
export function createAuditService(deps: { orm: Orm }) {
  const { orm } = deps;
  const filter = (query: Pick<AuditQuery, 'dropId' | 'action'>) => ({
    ...(query.dropId ? { dropId: query.dropId } : {}),
    ...(query.action ? { action: query.action } : {}),
  });

  async function page(query: AuditQuery): Promise<Page<AuditEntryView>> {
    const [rows, total] = await orm.em.fork().findAndCount(AuditEntrySchema, filter(query), {
      orderBy: { id: 'desc' },
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    return { items: rows.map(toAuditEntryView), page: query.page, pageSize: query.pageSize, total, serverNow: new Date().toISOString() };
  }

  /**
   * Every matching entry as CSV, newest first, read in chunks by id so a long log never sits in
   * memory whole. Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR) are
   * prefixed with a quote: an admin's drop title or a token name cannot become code in Excel.
   */
  async function exportCsv(query: Pick<AuditQuery, 'dropId' | 'action'>, out: Writable): Promise<void> {
    async function* rows() {
      const em = orm.em.fork();
      let before: number | undefined;
      for (;;) {
        const chunk = await em.find(AuditEntrySchema, { ...filter(query), ...(before ? { id: { $lt: before } } : {}) }, { orderBy: { id: 'desc' }, limit: EXPORT_CHUNK });
        em.clear();
        for (const row of chunk) {
          const view = toAuditEntryView(row);
          yield { ...view, details: JSON.stringify(view.details) };
        }
        if (chunk.length < EXPORT_CHUNK) return;
        before = chunk.at(-1)!.id;
      }
    }
    try {
      // Backpressure end to end: the next chunk is read only when the client has taken the last.
      await pipeline(Readable.from(rows()), stringify({ header: true, columns: [...AUDIT_CSV_COLUMNS], escape_formulas: true }), out);
    } catch (error) {
      // The client went away mid-download: nothing left to answer.
      if (!out.destroyed) throw error;
    }
  }

  /** The actions one account made, oldest first (for that account's data export). */
  async function byActor(actorId: string): Promise<AuditEntryView[]> {
    const rows = await orm.em.fork().find(AuditEntrySchema, { actorId }, { orderBy: { id: 'asc' } });
    return rows.map(toAuditEntryView);
  }

  return { page, exportCsv, byActor };
}
