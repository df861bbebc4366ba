import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';
import type { Orm } from './db/orm.ts';
import { createActionLimits } from './domain/action-limits.ts';
import { createAuditService } from './modules/audit/audit.service.ts';
import { createAuthService, type EndedSession } from './modules/auth/auth.service.ts';
import { createEmailVerificationService } from './modules/auth/email-verification.service.ts';
import { createPasswordResetService } from './modules/auth/password-reset.service.ts';
import { claimActions } from './modules/claims/claim.actions.ts';
import { createClaimService } from './modules/claims/claim.service.ts';
import { dropActions } from './modules/drops/drop.actions.ts';
import { createDropService } from './modules/drops/drop.service.ts';
import { createEventService } from './modules/events/event.service.ts';
import { silentNotifier, type EventNotifier } from './modules/events/outbox.ts';
import { createMailer } from './modules/mail/mailer.ts';
import { createPowService } from './modules/pow/pow.service.ts';
import { reservationActions } from './modules/reservations/reservation.actions.ts';
import { createReservationService } from './modules/reservations/reservation.service.ts';
import { createAccountService } from './modules/users/account.service.ts';
import { createPriorityFormula } from './modules/waitlist/priority.ts';
import { waitlistActions } from './modules/waitlist/waitlist.actions.ts';
import { createWaitlistService } from './modules/waitlist/waitlist.service.ts';
import type { Metrics } from './observability/metrics.ts';

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
  },
) {
  const formula = createPriorityFormula(deps.config.priority);
  const notifier = deps.notifier ?? silentNotifier;
  // Claims, joins, leaves and the PRIORITY line change what a drop page shows: its cached view goes after each commit.
  const changed: EventNotifier & { drop: (dropId: string) => void } = { committed: () => notifier.committed(), drop: (id) => drops.forget(id) };
  const reservations = createReservationService({ orm: deps.orm, formula, notifier: changed });
  const drops = createDropService({ orm: deps.orm, notifier, line: reservations, formula });
  const auth = createAuthService(deps);
  const audit = createAuditService(deps);
  const mailer = createMailer({ config: deps.config, orm: deps.orm, logger: deps.logger ?? pino({ level: 'silent' }), metrics: deps.metrics });
  const verification = createEmailVerificationService({ orm: deps.orm, config: deps.config, mailer });
  // Every caller of join and claim (HTTP, sockets, anything later) meets the same check: an
  // unverified address is refused alike on both transports when the deployment requires it.
  const anyClaims = createClaimService({ orm: deps.orm, notifier: changed, line: reservations, metrics: deps.metrics });
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
  const { window } = dropActions(drops);
  const { list, extendHolds } = reservationActions(reservations);
  return {
    mailer,
    pow,
    verification,
    passwordReset: createPasswordResetService({ orm: deps.orm, config: deps.config, mailer, auth }),
    formula,
    limits: createActionLimits(deps.config.rateLimits),
    auth,
    audit,
    account: createAccountService({ orm: deps.orm, auth, audit, notifier: changed, line: reservations, onAccountDeleted: deps.onAccountDeleted }),
    events: createEventService(deps),
    drops,
    reservations,
    waitlist,
    claims,
    /** What clients do, bound alike by the HTTP routes and the socket namespaces. */
    actions: { ...waitlistActions(waitlist), ...claimActions(claims), window, reservations: list, extendHolds },
  };
}
