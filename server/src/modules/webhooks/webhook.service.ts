import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { sql } from 'kysely';
import {
  WEBHOOK_SECRET_PREFIX,
  type CreateWebhookBody,
  type DomainEventType,
  type ListDeliveriesQuery,
  type UpdateWebhookBody,
  type WebhookDeliveryPage,
  type WebhookDeliveryStatus,
  type WebhookDeliveryView,
  type WebhookEndpointView,
} from '@dropspot/protocol';
import type { Config } from '../../config.ts';
import { countInt, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { eventsExpired, oldestEventId } from '../events/retention.ts';
import { webhookId } from './dispatcher.ts';
import { assertDeliverableUrl } from './url-guard.ts';
import { WebhookDeliverySchema, type WebhookDelivery } from './webhook-delivery.entity.ts';
import { WebhookEndpointSchema, type WebhookEndpoint } from './webhook-endpoint.entity.ts';

export type WebhookService = ReturnType<typeof createWebhookService>;

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
function newSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}

const notFound = () => new DomainError('NOT_FOUND', 'No webhook endpoint with this id.');

/**
 * Admins' webhook endpoints (register, change, enable/disable, delete) and their deliveries
 * (list, redeliver the failed ones). Every change is audited in its transaction and wakes the
 * dispatcher (`poke`).
 */
export function createWebhookService(deps: { orm: Orm; config: Readonly<Config>; poke: () => void }) {
  const { orm, config } = deps;
  const allowPrivate = config.webhooks.allowPrivate;

  async function counts(ids: string[]): Promise<Map<string, Record<WebhookDeliveryStatus, number>>> {
    const result = new Map(ids.map((id) => [id, { PENDING: 0, DELIVERED: 0, FAILED: 0 }]));
    if (ids.length === 0) return result;
    const rows = await db(orm.em.fork())
      .selectFrom('webhook_delivery')
      .select(['endpoint', 'status', countInt.as('n')])
      .where('endpoint', 'in', ids)
      .groupBy(['endpoint', 'status'])
      .execute();
    for (const row of rows) result.get(row.endpoint)![row.status] = row.n;
    return result;
  }

  function view(row: WebhookEndpoint, deliveries: Record<WebhookDeliveryStatus, number>): WebhookEndpointView {
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      eventTypes: [...row.eventTypes].sort() as DomainEventType[],
      enabled: row.enabled,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      deliveries,
    };
  }

  async function newestSeq(): Promise<number> {
    // Named after its column, so the bigint is converted as the column's (it arrives as text).
    const row = await db(orm.em.fork()).selectFrom('outbox_event').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
    return row?.seq ?? 0;
  }

  /** Registers an endpoint; the answer carries its secret, which is never shown again. It receives the events published from now on. */
  async function create(body: CreateWebhookBody, actor: Actor): Promise<WebhookEndpointView & { secret: string }> {
    await assertDeliverableUrl(body.url, allowPrivate);
    const secret = newSecret();
    const em = orm.em.fork();
    const row = em.create(WebhookEndpointSchema, {
      url: body.url,
      description: body.description,
      eventTypes: body.eventTypes,
      secret,
      enabled: body.enabled,
      lastSeq: await newestSeq(),
      createdBy: actor.userId,
    });
    await recordAudit(em, actor, { action: 'webhook.create', targetId: row.id, details: { url: body.url, eventTypes: body.eventTypes } });
    await em.flush();
    deps.poke();
    return { ...view(row, { PENDING: 0, DELIVERED: 0, FAILED: 0 }), secret };
  }

  async function list(): Promise<WebhookEndpointView[]> {
    const rows = await orm.em.fork().find(WebhookEndpointSchema, {}, { orderBy: { createdAt: 'desc' } });
    const byEndpoint = await counts(rows.map((row) => row.id));
    return rows.map((row) => view(row, byEndpoint.get(row.id)!));
  }

  async function get(id: string): Promise<WebhookEndpointView> {
    const row = await orm.em.fork().findOne(WebhookEndpointSchema, { id });
    if (!row) throw notFound();
    return view(row, (await counts([id])).get(id)!);
  }

  /**
   * Changes an endpoint. A new URL is checked like a new registration. Disabled, an endpoint gets
   * nothing: events published meanwhile are not queued for it, and what was queued waits; enabled
   * again, it goes on with those and the events published from then on.
   */
  async function update(id: string, body: UpdateWebhookBody, actor: Actor): Promise<WebhookEndpointView> {
    if (body.url !== undefined) await assertDeliverableUrl(body.url, allowPrivate);
    const em = orm.em.fork();
    await em.transactional(async (tx) => {
      const row = await tx.findOne(WebhookEndpointSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!row) throw notFound();
      if (body.enabled === true && !row.enabled) row.lastSeq = await newestSeq();
      if (body.url !== undefined) row.url = body.url;
      if (body.eventTypes !== undefined) row.eventTypes = body.eventTypes;
      if (body.description !== undefined) row.description = body.description;
      if (body.enabled !== undefined) row.enabled = body.enabled;
      await recordAudit(tx, actor, { action: 'webhook.update', targetId: id, details: { ...body } });
    });
    deps.poke();
    return get(id);
  }

  /** Deletes an endpoint and its deliveries (an attempt in flight may still arrive). */
  async function remove(id: string, actor: Actor): Promise<void> {
    await orm.em.fork().transactional(async (tx) => {
      const row = await tx.findOne(WebhookEndpointSchema, { id });
      if (!row) throw notFound();
      await recordAudit(tx, actor, { action: 'webhook.delete', targetId: id, details: { url: row.url } });
      tx.remove(row);
    });
  }

  function deliveryView(row: WebhookDelivery, endpointId: string): WebhookDeliveryView {
    return {
      id: row.id,
      webhookId: webhookId(row.id),
      endpointId,
      eventId: row.eventSeq,
      eventType: row.eventType as DomainEventType,
      status: row.status,
      attempts: row.attempts,
      createdAt: row.createdAt.toISOString(),
      lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
      nextAttemptAt: row.status === 'PENDING' ? (row.nextAttemptAt?.toISOString() ?? null) : null,
      deliveredAt: row.deliveredAt?.toISOString() ?? null,
      lastStatus: row.lastStatus ?? null,
      lastError: row.lastError ?? null,
      lastResponse: row.lastResponse ?? null,
    };
  }

  /** An endpoint's deliveries, newest event first. */
  async function deliveries(id: string, query: ListDeliveriesQuery): Promise<WebhookDeliveryPage> {
    const em = orm.em.fork();
    if (!(await em.count(WebhookEndpointSchema, { id }))) throw notFound();
    const where = { endpoint: id, ...(query.status ? { status: query.status } : {}) };
    const [rows, total] = await em.findAndCount(WebhookDeliverySchema, where, {
      orderBy: { eventSeq: 'desc' },
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    return { items: rows.map((row) => deliveryView(row, id)), page: query.page, pageSize: query.pageSize, total };
  }

  /**
   * Puts a FAILED delivery back in its endpoint's queue (same `webhook-id`, a fresh retry period);
   * its event must still be kept, else EVENTS_EXPIRED. Returns it as it is now.
   */
  async function redeliver(endpointId: string, deliveryId: string, actor: Actor): Promise<WebhookDeliveryView> {
    const em = orm.em.fork();
    await em.transactional(async (tx) => {
      const row = await tx.findOne(WebhookDeliverySchema, { id: deliveryId, endpoint: endpointId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!row) throw new DomainError('NOT_FOUND', 'No delivery with this id for this endpoint.');
      if (row.status !== 'FAILED') throw new DomainError('DELIVERY_NOT_FAILED', `This delivery is ${row.status.toLowerCase()}: only failed deliveries can be sent again.`);
      const kept = await db(tx).selectFrom('outbox_event').select(countInt.as('n')).where('seq', '=', row.eventSeq).executeTakeFirst();
      if (!kept?.n) throw eventsExpired(await oldestEventId(tx), `Event ${row.eventSeq}`);
      row.status = 'PENDING';
      row.nextAttemptAt = new Date();
      row.firstAttemptAt = null;
      await recordAudit(tx, actor, { action: 'webhook.redeliver', targetId: endpointId, details: { deliveries: 1, eventId: row.eventSeq } });
    });
    deps.poke();
    const row = await orm.em.fork().findOneOrFail(WebhookDeliverySchema, { id: deliveryId });
    return deliveryView(row, endpointId);
  }

  /** Every FAILED delivery of an endpoint whose event is still kept goes back in the queue; the others stay FAILED (`expired`). */
  async function redeliverFailed(endpointId: string, actor: Actor): Promise<{ redelivered: number; expired: number }> {
    const result = await orm.em.fork().transactional(async (tx) => {
      const endpoint = await tx.findOne(WebhookEndpointSchema, { id: endpointId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!endpoint) throw notFound();
      // One statement: the count of those left FAILED reads the rows as they were before the update.
      const row = await db(tx)
        .with('again', (q) =>
          q
            .updateTable('webhook_delivery')
            .set({ status: 'PENDING', nextAttemptAt: sql<Date>`now()`, firstAttemptAt: null })
            .where('endpoint', '=', endpointId)
            .where('status', '=', 'FAILED')
            .where((eb) => eb.exists(eb.selectFrom('outbox_event as o').select(sql<number>`1`.as('one')).whereRef('o.seq', '=', 'webhook_delivery.eventSeq')))
            .returning(sql<number>`1`.as('one')),
        )
        .selectNoFrom((eb) => [
          eb.selectFrom('again').select(countInt.as('n')).as('redelivered'),
          eb
            .selectFrom('webhook_delivery as d')
            .select(countInt.as('n'))
            .where('d.endpoint', '=', endpointId)
            .where('d.status', '=', 'FAILED')
            .where((w) => w.not(w.exists(w.selectFrom('outbox_event as o').select(sql<number>`1`.as('one')).whereRef('o.seq', '=', 'd.eventSeq'))))
            .as('expired'),
        ])
        .executeTakeFirst();
      const counted = { redelivered: row?.redelivered ?? 0, expired: row?.expired ?? 0 };
      if (counted.redelivered > 0) await recordAudit(tx, actor, { action: 'webhook.redeliver', targetId: endpointId, details: { deliveries: counted.redelivered } });
      return counted;
    });
    deps.poke();
    return result;
  }

  return { create, list, get, update, remove, deliveries, redeliver, redeliverFailed };
}
