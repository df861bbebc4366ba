import type { EntityManager } from '@mikro-orm/postgresql';
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';
import type { Orm } from './db/orm.ts';
import { createActionLimits } from './domain/action-limits.ts';
import { createDescriptionAssistant } from './modules/ai/description.service.ts';
import { createAuditService } from './modules/audit/audit.service.ts';
import { createAuthService, type EndedSession } from './modules/auth/auth.service.ts';
import { createEmailVerificationService } from './modules/auth/email-verification.service.ts';
import { createPasswordResetService } from './modules/auth/password-reset.service.ts';
import { claimActions } from './modules/claims/claim.actions.ts';
import { createClaimService } from './modules/claims/claim.service.ts';
import { createOpeningShuffle } from './modules/claims/opening-shuffle.ts';
import { dropActions } from './modules/drops/drop.actions.ts';
import { createDropService } from './modules/drops/drop.service.ts';
import { createEventService } from './modules/events/event.service.ts';
import { silentNotifier, type EventNotifier } from './modules/events/outbox.ts';
import { createMailer } from './modules/mail/mailer.ts';
import { createNotifications } from './modules/notifications/notifications.ts';
import { createPowService } from './modules/pow/pow.service.ts';
import { reservationActions } from './modules/reservations/reservation.actions.ts';
import { createReservationService } from './modules/reservations/reservation.service.ts';
import { createAccountService } from './modules/users/account.service.ts';
import { createPriorityFormula } from './modules/waitlist/priority.ts';
import { waitlistActions } from './modules/waitlist/waitlist.actions.ts';
import { createWaitlistService } from './modules/waitlist/waitlist.service.ts';
import type { Metrics } from './observability/metrics.ts';
import { createWebhookDispatcher } from './modules/webhooks/dispatcher.ts';
import { createWebhookService } from './modules/webhooks/webhook.service.ts';

type Clocked = { tick: (dropId: string) => Promise<Date | null>; nextInstant: (dropId: string) => Promise<Date | null>; pendingDrops: () => Promise<string[]> };
const earliest = (a: Date | null, b: Date | null) => (a && b ? (a < b ? a : b) : (a ?? b));

/** Two timed duties of a drop as one: each tick runs both, the next instant is the earlier one. */
function lineClock(a: Clocked, b: Clocked): Clocked {
  return {
    tick: async (dropId) => earliest(await a.tick(dropId), await b.tick(dropId)),
    nextInstant: async (dropId) => earliest(await a.nextInstant(dropId), await b.nextInstant(dropId)),
    pendingDrops: async () => [...new Set([...(await a.pendingDrops()), ...(await b.pendingDrops())])],
  };
}

/** The domain's services, wired together; the transports (HTTP, sockets) and the CLI call these. */
export type Services = ReturnType<typeof createServices>;

export function createServices(
  deps: {
    config: Readonly<Config>;
    orm: Orm;
    logger?: Logger;
    notifier?: EventNotifier;
    onSessionsEnded?: (ended: EndedSession[]) => void;
    onAccountDeleted?: (userId: string) => void;
    /** Prometheus metrics (claims, mail deliveries); none when absent. */
    metrics?: Metrics;
    /** The send worker's "the server is busy" gate (see createNotifications). */
    whenQuiet?: () => Promise<void>;
  },
) {
  const formula = createPriorityFormula(deps.config.priority);
  const notifier = deps.notifier ?? silentNotifier;
  // Claims, joins, leaves and the PRIORITY line change what a drop page shows: its cached view goes after each commit.
  const changed: EventNotifier & { drop: (dropId: string) => void } = { committed: () => notifier.committed(), drop: (id) => drops.forget(id) };
  const reservations = createReservationService({ orm: deps.orm, formula, notifier: changed });
  const opening = createOpeningShuffle({ orm: deps.orm, notifier: changed });
  // Window actions and edits bring the line up to date, and serve a shuffled opening that is due (a resume, an extension).
  const line = { ...reservations, syncLocked: async (em: EntityManager, dropId: string) => (await reservations.syncLocked(em, dropId), void (await opening.serveLocked(em, dropId))) };
  const drops = createDropService({ orm: deps.orm, notifier, line, formula });
  const auth = createAuthService(deps);
  const audit = createAuditService(deps);
  const mailer = createMailer({ config: deps.config, orm: deps.orm, logger: deps.logger ?? pino({ level: 'silent' }), metrics: deps.metrics });
  const notifications = createNotifications({ orm: deps.orm, config: deps.config, logger: deps.logger ?? pino({ level: 'silent' }), mailer, metrics: deps.metrics, whenQuiet: deps.whenQuiet });
  const verification = createEmailVerificationService({ orm: deps.orm, config: deps.config, mailer });
  // Every caller of join and claim (HTTP, sockets, anything later) meets the same check: an
  // unverified address is refused alike on both transports when the deployment requires it.
  const anyClaims = createClaimService({ orm: deps.orm, notifier: changed, line: reservations, opening, metrics: deps.metrics });
  const anyWaitlist = createWaitlistService({ orm: deps.orm, formula, notifier: changed, line: reservations });
  const claims: typeof anyClaims = { ...anyClaims, claim: async (userId, dropId) => (await verification.requireVerified(userId), anyClaims.claim(userId, dropId)) };
  const pow = createPowService(deps);
  // A drop that requires proof of work is joined with a solved challenge, on every transport alike.
  const waitlist = {
    ...anyWaitlist,
    join: async (userId: string, dropId: string, altcha?: string) => {
      await verification.requireVerified(userId);
      await pow.forDrop(dropId, altcha);
      return anyWaitlist.join(userId, dropId);
    },
  };
  // Webhooks: the dispatcher delivers from the outbox (app.ts starts it and pokes it after each publication).
  const webhookDispatcher = createWebhookDispatcher({ orm: deps.orm, logger: deps.logger ?? pino({ level: 'silent' }), settings: deps.config.webhooks, metrics: deps.metrics });
  const webhooks = createWebhookService({ orm: deps.orm, config: deps.config, poke: webhookDispatcher.poke });
  const { window } = dropActions(drops);
  const { list, extendHolds } = reservationActions(reservations);
  return {
    mailer,
    webhooks,
    webhookDispatcher,
    notifications,
    pow,
    verification,
    passwordReset: createPasswordResetService({ orm: deps.orm, config: deps.config, mailer, auth }),
    formula,
    /** "Suggest a description" for admins (off without AI_BASE_URL and AI_MODEL). */
    ai: createDescriptionAssistant({ config: deps.config.ai, logger: deps.logger ?? pino({ level: 'silent' }) }),
    limits: createActionLimits(deps.config.rateLimits),
    auth,
    audit,
    account: createAccountService({ orm: deps.orm, auth, audit, notifier: changed, line: reservations, onAccountDeleted: deps.onAccountDeleted }),
    events: createEventService(deps),
    drops,
    reservations,
    opening,
    /** What the drop rooms' line timers run: a PRIORITY/DRAW line's freeze and holds, and a shuffled opening's end. */
    lineClock: lineClock(reservations, opening),
    waitlist,
    claims,
    /** What clients do, bound alike by the HTTP routes and the socket namespaces. */
    actions: { ...waitlistActions(waitlist), ...claimActions(claims), window, reservations: list, extendHolds },
  };
}
