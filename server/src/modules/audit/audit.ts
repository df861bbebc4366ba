import type { EntityManager } from '@mikro-orm/postgresql';
import type { Request } from 'express';
import type { AuditAction } from '@dropspot/protocol';
import { db } from '../../db/kysely.ts';
import { AuditEntrySchema } from './audit.entity.ts';

/** Who is acting: an admin (with the address the request came from), or the server itself. */
export interface Actor {
  userId: string | null;
  ip: string | null;
}

export const SYSTEM_ACTOR: Actor = { userId: null, ip: null };

/** The signed-in admin behind an HTTP request; only call behind `requireAdmin`. */
export function requestActor(req: Request): Actor {
  return { userId: req.auth?.userId ?? null, ip: req.ip ?? null };
}

export interface AuditInput {
  action: AuditAction;
  dropId?: string | null;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

/**
 * Adds an audit entry to the unit of work: call it inside the transaction (or before the flush)
 * that makes the change, so the entry and the change commit together or not at all.
 */
export async function recordAudit(em: EntityManager, actor: Actor, entry: AuditInput): Promise<void> {
  // Read past the unit of work: the actor's row is not loaded into (and flushed with) the caller's changes.
  const user = actor.userId ? await db(em).selectFrom('user').select('email').where('id', '=', actor.userId).executeTakeFirst() : undefined;
  em.create(AuditEntrySchema, {
    at: new Date(),
    actorId: actor.userId,
    actorEmail: user?.email ?? null,
    actorIp: actor.ip?.slice(0, 64) ?? null,
    action: entry.action,
    dropId: entry.dropId ?? null,
    targetId: entry.targetId ?? null,
    details: entry.details ?? {},
  });
}
