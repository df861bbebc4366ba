import { randomBytes } from 'node:crypto';
import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';
import {
  hasLine,
  type CreateDropBody,
  type DropDetailView,
  type DropView,
  type ListDropsQuery,
  type Page,
  type PriorityFormulaView,
  type UpdateDropBody,
  type WindowActionBody,
} from '@dropspot/protocol';
import { sql, type ExpressionBuilder, type UpdateObject } from 'kysely';
import { clock, countInt, db, plusSeconds, type Database } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';
import { transaction } from '../../db/transaction.ts';
import { DomainError } from '../../domain/errors.ts';
import { ClaimSchema } from '../claims/claim.entity.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { recordEvent, type EventNotifier } from '../events/outbox.ts';
import { toClaimView } from '../claims/claim.view.ts';
import { toWaitlistEntryView, waitlistPosition } from '../waitlist/waitlist.service.ts';
import { WaitlistSchema } from '../waitlist/waitlist.entity.ts';
import type { ReservationService } from '../reservations/reservation.service.ts';
import type { PriorityFormula } from '../waitlist/priority.ts';
import { DropSchema, type Drop } from './drop.entity.ts';
import { toDropView } from './drop.view.ts';
import { checkOpeningShuffle } from './opening-rules.ts';

export type DropService = ReturnType<typeof createDropService>;

const ONE_HOUR = 3600;

/** Window filters and their natural order: live ends soonest first, upcoming opens soonest first. */
function statusFilter(status: ListDropsQuery['status'], now: Date) {
  switch (status) {
    case 'upcoming':
      return { where: { claimWindowStart: { $gt: now } }, orderBy: { claimWindowStart: 'asc' } } as const;
    case 'live':
      return { where: { claimWindowStart: { $lte: now }, claimWindowEnd: { $gt: now } }, orderBy: { claimWindowEnd: 'asc' } } as const;
    case 'ended':
      return { where: { claimWindowEnd: { $lte: now } }, orderBy: { claimWindowEnd: 'desc' } } as const;
    default:
      return { where: {}, orderBy: { claimWindowStart: 'desc' } } as const;
  }
}

async function waitlistCounts(em: EntityManager, dropIds: string[]): Promise<Map<string, number>> {
  if (dropIds.length === 0) return new Map();
  const rows = await db(em).selectFrom('waitlist').select(['drop', countInt.as('count')]).where('drop', 'in', dropIds).groupBy('drop').execute();
  return new Map(rows.map((row) => [row.drop, row.count]));
}

/**
 * What each admin window action sets. Every instant is `clock_timestamp()`, read after the
 * drop's row is locked (see `windowAction`): the same clock, at the same point, as a claim batch
 * judges by. `now()` would be the transaction's start, before the wait for the row, and a batch
 * that committed during that wait could then hold claims issued after the stored end. Every
 * expression reads the row as it was before the update.
 */
const WINDOW_SET: Record<
  WindowActionBody['action'],
  (eb: ExpressionBuilder<Database, 'drop'>, seconds: number | null, formula: PriorityFormulaView) => UpdateObject<Database, 'drop'>
> = {
  // Opens now (keeps an earlier start); with `seconds` it ends that many seconds from now, without
  // them a window that already ended gets 1 h and a future end is kept.
  'open-now': (eb, seconds, formula) => ({
    claimWindowStart: eb.fn<Date>('least', ['claimWindowStart', clock]),
    claimWindowEnd:
      seconds === null
        ? eb.case().when('claimWindowEnd', '>', clock).then(eb.ref('claimWindowEnd')).else(plusSeconds(clock, ONE_HOUR)).end()
        : plusSeconds(clock, seconds),
    pausedAt: null,
    isActive: true,
    publishedAt: eb.fn.coalesce('publishedAt', clock),
    priorityFormula: eb.fn.coalesce('priorityFormula', sql<PriorityFormulaView>`${JSON.stringify(formula)}::jsonb`),
  }),
  // Ends now; a window that had not opened yet ends without ever opening.
  'close-now': (eb) => ({
    claimWindowEnd: eb.fn<Date>('least', ['claimWindowEnd', clock]),
    claimWindowStart: eb.fn<Date>('least', ['claimWindowStart', sql<Date>`least(${eb.ref('claimWindowEnd')}, clock_timestamp()) - interval '1 millisecond'`]),
  }),
  // Adds time to the end; an ended window reopens for `seconds` from now.
  extend: (eb, seconds) => ({ claimWindowEnd: plusSeconds(eb.fn<Date>('greatest', ['claimWindowEnd', clock]), seconds) }),
  pause: (eb) => ({ pausedAt: eb.fn.coalesce('pausedAt', clock) }),
  resume: () => ({ pausedAt: null }),
};

/** The stream event each admin window action records. */
const WINDOW_EVENT = {
  'open-now': 'window.opened',
  'close-now': 'window.closed',
  extend: 'window.extended',
  pause: 'window.paused',
  resume: 'window.resumed',
} as const;

export function createDropService(deps: {
  orm: Orm;
  notifier: EventNotifier;
  line: Pick<ReservationService, 'syncLocked' | 'mine'>;
  /** The live formula: a drop keeps the one in force when it is published, whatever is deployed later. */
  formula: Pick<PriorityFormula, 'view'>;
}) {
  const { orm, notifier, line, formula } = deps;

  async function page(query: ListDropsQuery, includeInactive: boolean): Promise<Page<DropView>> {
    const em = orm.em.fork();
    const now = new Date();
    const { where, orderBy } = statusFilter(query.status, now);
    const filter = includeInactive ? where : { ...where, isActive: true };
    const [drops, total] = await em.findAndCount(DropSchema, filter, {
      orderBy: [orderBy, { id: 'asc' }],
      limit: query.pageSize,
      offset: (query.page - 1) * query.pageSize,
    });
    const counts = await waitlistCounts(em, drops.map((d) => d.id));
    return {
      items: drops.map((d) => toDropView(d, counts.get(d.id) ?? 0, now)),
      page: query.page,
      pageSize: query.pageSize,
      total,
      serverNow: now.toISOString(),
    };
  }

  async function loadDrop(em: EntityManager, id: string, includeInactive: boolean): Promise<Drop> {
    const drop = await em.findOne(DropSchema, includeInactive ? { id } : { id, isActive: true });
    if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
    return drop;
  }

  async function view(em: EntityManager, drop: Drop): Promise<DropView> {
    const count = await em.count(WaitlistSchema, { drop: drop.id });
    return toDropView(drop, count, new Date());
  }

  /** A drop as a visitor sees it, plus the signed-in user's own entry, position and claim. */
  /**
   * A drop room's page load is the hot read during a storm (everyone refreshing): the public
   * drop and its waitlist count are kept for 250 ms. Only reads use it; a claim is always judged
   * by the database. Local changes drop the entry at once; live numbers come over the socket.
   */
  const publicDrops = new LRUCache<string, { drop: Drop; waitlistCount: number }>({ max: 10_000, ttl: 250 });
  /** Bumped by every change: a read that started before it must not cache what it read. */
  let generation = 0;
  const forget = (dropId: string) => {
    generation += 1;
    publicDrops.delete(dropId);
  };

  async function publicDrop(em: EntityManager, id: string, includeInactive: boolean): Promise<{ drop: Drop; waitlistCount: number }> {
    const hit = includeInactive ? undefined : publicDrops.get(id);
    if (hit) return hit;
    const startedAt = generation;
    const drop = await loadDrop(em, id, includeInactive);
    const entry = { drop, waitlistCount: await em.count(WaitlistSchema, { drop: id }) };
    if (!includeInactive && startedAt === generation) publicDrops.set(id, entry);
    return entry;
  }

  async function detail(id: string, userId: string | undefined, includeInactive = false): Promise<DropDetailView> {
    const em = orm.em.fork();
    const { drop, waitlistCount } = await publicDrop(em, id, includeInactive);
    const base = toDropView(drop, waitlistCount, new Date());
    if (!userId) return base;
    const entry = await em.findOne(WaitlistSchema, { user: userId, drop: id });
    const claim = await em.findOne(ClaimSchema, { user: userId, drop: id });
    const reservation = hasLine(drop.allocationMode) ? await line.mine(em, id, userId) : null;
    return {
      ...base,
      me: {
        // Once a PRIORITY ranking is frozen, the frozen rank is the position.
        waitlist: entry ? { ...toWaitlistEntryView(entry), position: reservation?.rank ?? (await waitlistPosition(em, entry)) } : null,
        claim: claim ? toClaimView(claim, drop.title) : null,
        ...(hasLine(drop.allocationMode) ? { reservation } : {}),
      },
    };
  }

  async function create(body: CreateDropBody, actor: Actor): Promise<DropView> {
    const em = orm.em.fork();
    const now = new Date();
    const drop = em.create(DropSchema, {
      title: body.title,
      description: body.description,
      imageUrl: body.imageUrl ?? null,
      totalSlots: body.totalSlots,
      claimWindowStart: body.claimWindowStart,
      claimWindowEnd: body.claimWindowEnd,
      isActive: body.isActive,
      allocationMode: body.allocationMode,
      holdSeconds: body.holdSeconds,
      requirePow: body.requirePow,
      openingShuffleSeconds: body.openingShuffleSeconds ?? null,
      publishedAt: body.isActive ? now : null,
      priorityFormula: body.isActive ? formula.view : null,
    });
    const view = toDropView(drop, 0, now);
    recordEvent(em, { type: 'drop.created', dropId: drop.id, payload: { drop: view } });
    await recordAudit(em, actor, { action: 'drop.create', dropId: drop.id, details: { ...body } });
    await em.flush();
    notifier.committed();
    return view;
  }

  async function update(id: string, body: UpdateDropBody, actor: Actor): Promise<DropView> {
    const updated = await transaction(orm, async (em) => {
      // Locked so a claim cannot slip in between the slots check and the write.
      const drop = await em.findOne(DropSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
      const start = body.claimWindowStart ?? drop.claimWindowStart;
      const end = body.claimWindowEnd ?? drop.claimWindowEnd;
      if (start.getTime() >= end.getTime()) {
        throw new DomainError('VALIDATION_FAILED', 'claimWindowStart must be before claimWindowEnd.', {
          issues: [{ path: 'claimWindowEnd', message: 'must be after claimWindowStart', code: 'custom' }],
        });
      }
      if (body.totalSlots !== undefined && body.totalSlots < drop.claimed) {
        throw new DomainError('SLOTS_BELOW_CLAIMED', `${drop.claimed} slots are already claimed; totalSlots cannot go below that.`, {
          extra: { claimed: drop.claimed },
        });
      }
      if (body.totalSlots !== undefined && drop.rankingFrozenAt) {
        // A PRIORITY line's open reservations hold slots too: each was promised one.
        const held = await db(em).selectFrom('reservation').select(countInt.as('granted')).where('drop', '=', id).where('status', '=', 'GRANTED').executeTakeFirst();
        const promised = drop.claimed + (held?.granted ?? 0);
        if (body.totalSlots < promised) {
          throw new DomainError('SLOTS_BELOW_CLAIMED', `${promised} slots are claimed or held by open reservations; totalSlots cannot go below that.`, {
            extra: { claimed: drop.claimed, held: held?.granted ?? 0 },
          });
        }
      }
      // The mode decides who may claim: it cannot change once a ranking is frozen or the window has opened.
      if (body.allocationMode !== undefined && body.allocationMode !== drop.allocationMode) {
        const opened = await db(em)
          .selectFrom('drop')
          .select((eb) => eb('claimWindowStart', '<=', clock).as('opened'))
          .where('id', '=', id)
          .executeTakeFirst();
        if (drop.rankingFrozenAt || opened?.opened) {
          throw new DomainError('VALIDATION_FAILED', 'The allocation mode cannot change once the claim window has opened.', {
            issues: [{ path: 'allocationMode', message: 'cannot change once the window has opened', code: 'custom' }],
          });
        }
        if (hasLine(body.allocationMode) && !drop.rankingSecret) drop.rankingSecret = randomBytes(32).toString('hex');
      }
      await checkOpeningShuffle(em, drop, body);
      const { imageUrl, ...rest } = body;
      em.assign(drop, { ...rest, ...(imageUrl !== undefined ? { imageUrl } : {}) });
      if (drop.isActive && !drop.publishedAt) {
        drop.publishedAt = new Date();
        drop.priorityFormula ??= formula.view;
      }
      await em.flush();
      // A new window may have opened a PRIORITY drop (freeze) or reopened its line (backfill).
      await line.syncLocked(em, id);
      const fresh = await view(em, await em.findOneOrFail(DropSchema, { id }, { refresh: true }));
      recordEvent(em, { type: 'drop.updated', dropId: id, payload: { drop: fresh, changed: Object.keys(body) } });
      await recordAudit(em, actor, { action: 'drop.update', dropId: id, details: { ...body } });
      return fresh;
    });
    forget(id);
    notifier.committed();
    return updated;
  }

  async function remove(id: string, actor: Actor): Promise<void> {
    await transaction(orm, async (em) => {
      const drop = await em.findOne(DropSchema, { id });
      if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
      await em.nativeDelete(DropSchema, { id });
      recordEvent(em, { type: 'drop.deleted', dropId: id, payload: { dropId: id, title: drop.title } });
      await recordAudit(em, actor, { action: 'drop.delete', dropId: id, details: { title: drop.title, claimed: drop.claimed } });
    });
    forget(id);
    notifier.committed();
  }

  async function windowAction(id: string, body: WindowActionBody, actor: Actor): Promise<DropView> {
    const seconds = body.seconds ?? null;
    const changed = await transaction(orm, async (em) => {
      // Lock first, as a claim batch does; the update then reads the clock once it has the row.
      await db(em).selectFrom('drop').select('id').where('id', '=', id).forNoKeyUpdate().execute();
      // PRIORITY: the line as it stands before the action (a window that ended on its own stops its holds at its end).
      await line.syncLocked(em, id);
      const rows = await db(em)
        .updateTable('drop')
        .set((eb) => ({ ...WINDOW_SET[body.action](eb, seconds, formula.view), updatedAt: clock }))
        .where('id', '=', id)
        // Pausing a window that has already ended means nothing, so it is refused rather than stored.
        .$if(body.action === 'pause', (update) => update.where('claimWindowEnd', '>', clock))
        .returning('id')
        .execute();
      if (rows.length === 0) {
        await loadDrop(em, id, true);
        throw new DomainError('WINDOW_CLOSED', 'The claim window has already ended; extend or open it instead.');
      }
      // PRIORITY: opening freezes the ranking (the same step as the scheduled opening), and an
      // extension may reopen the line for backfill; the row is still locked.
      await line.syncLocked(em, id);
      const fresh = await view(em, await loadDrop(em, id, true));
      recordEvent(em, { type: WINDOW_EVENT[body.action], dropId: id, payload: { drop: fresh, action: body.action, seconds } });
      await recordAudit(em, actor, { action: `window.${body.action}`, dropId: id, details: { seconds, window: fresh.window } });
      return fresh;
    });
    forget(id);
    notifier.committed();
    return changed;
  }

  return {
    page,
    detail,
    create,
    update,
    remove,
    windowAction,
    /** Called after a claim, join or leave committed here, so this process's next read is fresh. */
    forget,
  };
}
