import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { AUDIT_ACTIONS } from '@dropspot/protocol';

/**
 * The admin audit log: one row per admin change, written in the transaction that makes the
 * change, so a rolled-back action leaves no entry and a committed one always has one. No
 * foreign keys: the record of who deleted a drop outlives the drop (and the admin's account).
 */
export const AuditEntrySchema = defineEntity({
  name: 'AuditEntry',
  tableName: 'audit_log',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    at: p.datetime().columnType('timestamptz').defaultRaw('now()').onCreate(() => new Date()).index(),
    /** Null for the server itself (demo seed, maintenance). */
    actorId: p.uuid().nullable().index(),
    /** The actor's email when they acted, kept if the account is later renamed or deleted. */
    actorEmail: p.string().length(254).nullable(),
    actorIp: p.string().length(64).nullable(),
    action: p.enum(AUDIT_ACTIONS),
    dropId: p.uuid().nullable(),
    /** The claim or API token acted on. */
    targetId: p.uuid().nullable(),
    details: p.json<Record<string, unknown>>(),
  },
  indexes: [{ name: 'audit_log_drop_id_idx', properties: ['dropId', 'id'] }],
});

export type AuditEntry = InferEntity<typeof AuditEntrySchema>;
