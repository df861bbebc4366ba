import { randomBytes } from 'node:crypto';
import type { ApiTokenView, StreamEvent } from '@dropspot/protocol';
import { db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import { sha256 } from '../auth/tokens.ts';
import { STREAM_COLUMNS, toStreamEvent } from './stream-event.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { ApiTokenSchema } from './api-token.entity.ts';
import { eventsExpired, oldestEventId } from './retention.ts';

export const API_TOKEN_PREFIX = 'dsk_';

export type EventService = ReturnType<typeof createEventService>;

/** The published event history (for replay and polling) and the API tokens that may read it. */
export function createEventService(deps: { orm: Orm }) {
  const { orm } = deps;

  /**
   * Published events after `after`, in order; codes of claims are never part of the stream. Ids
   * are gap-free, so a first event other than `after + 1` means the ones between were pruned
   * (retention): that is EVENTS_EXPIRED, never a silent gap.
   */
  async function after(afterId: number, limit: number): Promise<StreamEvent[]> {
    const em = orm.em.fork();
    const rows = await db(em).selectFrom('outbox_event').select(STREAM_COLUMNS).where('seq', '>', afterId).orderBy('seq').limit(limit).execute();
    if (rows.length > 0 && Number(rows[0]!.seq) !== afterId + 1) throw eventsExpired(await oldestEventId(em), `Event ${afterId + 1}`);
    return rows.map((row) => toPublicEvent(toStreamEvent(row)));
  }

  /** The id of the oldest event kept (0 before the first). */
  async function oldestId(): Promise<number> {
    return oldestEventId(orm.em.fork());
  }

  /**
   * Where a reader that names no position starts (just before the oldest event kept), and a check
   * of one that does: a position before the oldest kept event is EVENTS_EXPIRED.
   */
  async function startAfter(requested: number | undefined): Promise<number> {
    const oldest = await oldestId();
    const first = Math.max(0, oldest - 1);
    if (requested === undefined) return first;
    if (requested < first) throw eventsExpired(oldest, `Event ${requested + 1}`);
    return requested;
  }

  async function createToken(actor: Actor & { userId: string }, name: string): Promise<ApiTokenView & { token: string }> {
    const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const em = orm.em.fork();
    const row = em.create(ApiTokenSchema, { name, tokenHash: sha256(token), createdBy: actor.userId });
    await recordAudit(em, actor, { action: 'api-token.create', targetId: row.id, details: { name } });
    await em.flush();
    return { ...tokenView(row), token };
  }

  async function listTokens(): Promise<ApiTokenView[]> {
    const rows = await orm.em.fork().find(ApiTokenSchema, {}, { orderBy: { createdAt: 'desc' } });
    return rows.map(tokenView);
  }

  async function revokeToken(id: string, actor: Actor): Promise<void> {
    const em = orm.em.fork();
    const row = await em.findOne(ApiTokenSchema, { id });
    if (!row) throw new DomainError('NOT_FOUND', 'No API token with this id.');
    if (!row.revokedAt) await recordAudit(em, actor, { action: 'api-token.revoke', targetId: id, details: { name: row.name } });
    row.revokedAt ??= new Date();
    await em.flush();
  }

  /**
   * A token is live while it is not revoked and its creator is still an admin: it acts with its
   * creator's authority, so a demoted (or deleted) admin's tokens stop working with them. Read at
   * every use, never cached.
   */
  const LIVE = { revokedAt: null, createdBy: { role: 'ADMIN' } } as const;

  /** The token's id when it is live (and notes its use), otherwise undefined. */
  async function verifyToken(token: string): Promise<string | undefined> {
    if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
    const em = orm.em.fork();
    const row = await em.findOne(ApiTokenSchema, { tokenHash: sha256(token), ...LIVE });
    if (!row) return undefined;
    row.lastUsedAt = new Date();
    await em.flush();
    return row.id;
  }

  /** Whether a token (by id) is still live, without noting a use: for periodic re-checks. */
  async function isLiveToken(id: string): Promise<boolean> {
    return (await orm.em.fork().count(ApiTokenSchema, { id, ...LIVE })) > 0;
  }

  /** The id of the newest published event (0 before the first). */
  async function newestId(): Promise<number> {
    // Named after its column, so the bigint is converted as the column's (it arrives as text).
    const row = await db(orm.em.fork()).selectFrom('outbox_event').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
    return row?.seq ?? 0;
  }

  return { after, oldestId, startAfter, createToken, listTokens, revokeToken, verifyToken, isLiveToken, newestId };
}

function tokenView(row: { id: string; name: string; createdAt: Date; lastUsedAt?: Date | null; revokedAt?: Date | null }): ApiTokenView {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** What leaves the server on the stream: the internal routing field goes, and a claim's code is redacted. */
export function toPublicEvent(event: StreamEvent & { userId?: string | null }): StreamEvent {
  const { id, type, dropId, at, payload } = event;
  if (!payload.claim) return { id, type, dropId, at, payload };
  const { code: _code, ...claim } = payload.claim as Record<string, unknown>;
  return { id, type, dropId, at, payload: { ...payload, claim } };
}
