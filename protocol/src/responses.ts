import { z } from 'zod';
import { ERROR_CODES, type ErrorCode, type Problem } from './errors.ts';
import { ALLOCATION_MODES, AUDIT_ACTIONS, DROP_STATUSES } from './schemas.ts';
import { DOMAIN_EVENT_TYPES, type StreamEvent } from './stream.ts';
import type * as T from './types.ts';
import type { AiStatusView } from './ai.ts';
import { NOTIFICATION_KINDS, type NotificationKind, type NotificationSettingsView } from './notifications.ts';
import { WEBHOOK_DELIVERY_STATUSES, type WebhookDeliveryPage, type WebhookDeliveryStatus, type WebhookDeliveryView, type WebhookEndpointView } from './webhooks.ts';

/**
 * What the API answers, as zod schemas: the OpenAPI and AsyncAPI documents are generated from
 * them (server/src/http/api-docs/), and tests validate real responses against those documents.
 * Each schema is checked at compile time against the TypeScript view type the server builds
 * (bottom of this file), so neither can change without the other.
 *
 * Named schemas are in `apiSchemas` (a registry of our own, not zod's global one, so a module
 * evaluated twice, as under Vite's hot reload, registers nothing twice).
 */
export const apiSchemas = z.registry<{ id: string; description?: string }>();
const named = <S extends z.ZodType>(id: string, schema: S, description?: string): S => {
  apiSchemas.add(schema, description ? { id, description } : { id });
  return schema;
};

const instant = z.iso.datetime({ offset: true }).describe('ISO 8601, UTC');
const uuid = z.uuid();
const nullableInstant = instant.nullable();

export const userViewSchema = named(
  'User',
  z.object({ id: uuid, email: z.string(), role: z.enum(['USER', 'ADMIN']), createdAt: instant, emailVerified: z.boolean() }),
);
export const authResponseSchema = named(
  'Session',
  z.object({ user: userViewSchema, accessToken: z.string(), expiresIn: z.number().int().describe('seconds until the access token expires'), refreshToken: z.string() }),
);
export const signupRequirementsSchema = named('SignupRequirements', z.object({ requirePow: z.boolean() }));

export const windowViewSchema = named('Window', z.object({ start: instant, end: instant, state: z.enum(DROP_STATUSES), paused: z.boolean() }));

const coefficients = z.object({ A: z.number(), B: z.number(), C: z.number() });
export const priorityFormulaViewSchema = named(
  'PriorityFormula',
  z.object({
    seed: z.string(),
    inputs: z.object({ remoteUrl: z.string(), firstCommitEpoch: z.number(), startTime: z.string() }),
    base: z.number(),
    coefficients,
    formula: z.string(),
    rapidActionsWindowSeconds: z.number(),
  }),
);

export const dropViewSchema = named(
  'Drop',
  z.object({
    id: uuid,
    title: z.string(),
    description: z.string(),
    imageUrl: z.string().nullable(),
    totalSlots: z.number().int(),
    claimed: z.number().int(),
    remaining: z.number().int(),
    waitlistCount: z.number().int(),
    claimWindowStart: instant,
    claimWindowEnd: instant,
    window: windowViewSchema,
    isActive: z.boolean(),
    allocationMode: z.enum(ALLOCATION_MODES),
    holdSeconds: z.number().int(),
    requirePow: z.boolean(),
    openingShuffleSeconds: z.number().int().nullable().describe('FCFS: the claims of the first N seconds after the opening are served in draw-key order (null: arrival order)'),
    openingSettledAt: nullableInstant.describe("a shuffled FCFS opening: when its claims were served and the order published"),
    rankingCommitment: z.string().nullable().describe('PRIORITY, DRAW and a shuffled FCFS opening: sha256 (hex) of the secret, published before the window opens'),
    rankingFrozenAt: nullableInstant,
    priorityFormula: priorityFormulaViewSchema.nullable(),
    publishedAt: nullableInstant,
    createdAt: instant,
    updatedAt: instant,
    serverNow: instant,
  }),
);

export const scoreBreakdownSchema = named(
  'ScoreBreakdown',
  z.object({
    base: z.number(),
    signupLatencyMs: z.number(),
    accountAgeDays: z.number(),
    rapidActions: z.number(),
    coefficients,
    terms: z.object({ latency: z.number(), accountAge: z.number(), rapidActions: z.number() }),
    score: z.number(),
  }),
);
export const waitlistEntryViewSchema = named(
  'WaitlistEntry',
  z.object({ dropId: uuid, joinedAt: instant, priorityScore: z.number(), breakdown: scoreBreakdownSchema }),
);
export const positionViewSchema = named(
  'Position',
  z.object({
    dropId: uuid,
    position: z.number().int(),
    waitlistCount: z.number().int(),
    priorityScore: z.number(),
    joinedAt: instant,
    breakdown: scoreBreakdownSchema,
    /** A DRAW drop not drawn yet: `position` is the join order, which plays no part in the draw. */
    drawPending: z.boolean(),
  }),
);
export const claimViewSchema = named(
  'Claim',
  z.object({ id: uuid, dropId: uuid, dropTitle: z.string(), code: z.string(), status: z.enum(['ISSUED', 'USED']), issuedAt: instant, usedAt: nullableInstant }),
);
const RESERVATION_STATUSES = ['WAITING', 'GRANTED', 'CLAIMED', 'EXPIRED', 'RELEASED'] as const;
export const reservationViewSchema = named(
  'Reservation',
  z.object({
    dropId: uuid,
    rank: z.number().int(),
    status: z.enum(RESERVATION_STATUSES),
    grantedAt: nullableInstant,
    expiresAt: nullableInstant,
    holdSeconds: z.number().int(),
    waitingAhead: z.number().int(),
    openReservations: z.number().int(),
    remaining: z.number().int(),
    serverNow: instant,
  }),
);
const positionedEntry = waitlistEntryViewSchema.extend({ position: z.number().int() });
export const dropDetailViewSchema = named(
  'DropDetail',
  dropViewSchema.extend({
    me: z
      .object({ waitlist: positionedEntry.nullable(), claim: claimViewSchema.nullable(), reservation: reservationViewSchema.nullable().optional() })
      .optional()
      .describe('present when the request is signed in'),
  }),
);

const rankingBase = {
  dropId: uuid,
  title: z.string(),
  totalSlots: z.number().int(),
  commitment: z.string(),
  revealed: z.boolean(),
  frozenAt: nullableInstant,
  secret: z.string().nullable(),
  order: z.string(),
  total: z.number().int(),
  offset: z.number().int(),
  limit: z.number().int(),
  nextOffset: z.number().int().nullable(),
  me: z.object({ anonId: z.string(), rank: z.number().int() }).nullable().optional(),
};
export const rankingViewSchema = named(
  'Ranking',
  z.discriminatedUnion('allocationMode', [
    z.object({
      ...rankingBase,
      allocationMode: z.literal('PRIORITY'),
      formula: priorityFormulaViewSchema,
      entries: z.array(
        z.object({ rank: z.number().int(), anonId: z.string(), priorityScore: z.number(), joinedAt: instant, breakdown: scoreBreakdownSchema, tieBreak: z.string() }),
      ),
    }),
    z.object({
      ...rankingBase,
      allocationMode: z.literal('DRAW'),
      formula: z.null(),
      entries: z.array(z.object({ rank: z.number().int(), anonId: z.string(), drawKey: z.string() })),
    }),
    z
      .object({
        ...rankingBase,
        allocationMode: z.literal('FCFS'),
        formula: z.null(),
        openingShuffleSeconds: z.number().int(),
        slots: z.number().int().nullable().describe("free slots when the opening's claims were served: the first `slots` entries not LEFT are CLAIMED"),
        entries: z.array(z.object({ rank: z.number().int(), anonId: z.string(), drawKey: z.string(), outcome: z.enum(['CLAIMED', 'SOLD_OUT', 'LEFT']) })),
      })
      .describe('a shuffled FCFS opening: the claims of its first `openingShuffleSeconds`, revealed once served'),
  ]),
);

export const adminReservationsViewSchema = named(
  'AdminReservations',
  z.object({
    dropId: uuid,
    totalSlots: z.number().int(),
    claimed: z.number().int(),
    holdSeconds: z.number().int(),
    frozenAt: nullableInstant,
    counts: z.object(Object.fromEntries(RESERVATION_STATUSES.map((s) => [s, z.number().int()])) as Record<(typeof RESERVATION_STATUSES)[number], z.ZodNumber>),
    items: z.array(
      z.object({
        rank: z.number().int(),
        userId: uuid,
        email: z.string(),
        status: z.enum(RESERVATION_STATUSES),
        grantedAt: nullableInstant,
        expiresAt: nullableInstant,
        endedAt: nullableInstant,
      }),
    ),
    serverNow: instant,
  }),
);

const pageOf = <S extends z.ZodType>(items: S) =>
  z.object({ items: z.array(items), page: z.number().int(), pageSize: z.number().int(), total: z.number().int(), serverNow: instant });
export const dropPageSchema = named('DropPage', pageOf(dropViewSchema));

export const apiTokenViewSchema = named('ApiToken', z.object({ id: uuid, name: z.string(), createdAt: instant, lastUsedAt: nullableInstant, revokedAt: nullableInstant }));
export const createdApiTokenSchema = named('CreatedApiToken', apiTokenViewSchema.extend({ token: z.string().describe('dsk_…: shown this once') }));

export const streamEventSchema = named(
  'StreamEvent',
  z.object({
    id: z.number().int().describe('gap-free publication sequence: resume after the last one seen'),
    type: z.enum(DOMAIN_EVENT_TYPES),
    dropId: uuid.nullable(),
    at: instant,
    payload: z.record(z.string(), z.unknown()),
  }),
);
export const eventPageSchema = named(
  'EventPage',
  z.object({
    items: z.array(streamEventSchema),
    next: z.number().int(),
    newest: z.number().int(),
    oldest: z.number().int().describe('the oldest event id still kept (older ones were pruned); 0 before the first event'),
  }),
);

export const auditEntryViewSchema = named(
  'AuditEntry',
  z.object({
    id: z.number().int(),
    at: instant,
    actorId: uuid.nullable(),
    actorEmail: z.string().nullable(),
    actorIp: z.string().nullable(),
    action: z.enum(AUDIT_ACTIONS),
    dropId: uuid.nullable(),
    targetId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  }),
);
export const auditPageSchema = named('AuditPage', pageOf(auditEntryViewSchema));

export const accountExportSchema = named(
  'AccountExport',
  z.object({
    exportedAt: instant,
    user: userViewSchema,
    waitlists: z.array(waitlistEntryViewSchema.extend({ dropTitle: z.string() })),
    claims: z.array(claimViewSchema),
    sessions: z.array(
      z.object({
        id: uuid,
        createdAt: instant,
        expiresAt: instant,
        revokedAt: nullableInstant,
        revokedReason: z.string().nullable(),
        userAgent: z.string().nullable(),
        current: z.boolean(),
      }),
    ),
    actions: z.array(z.object({ kind: z.enum(['join', 'leave', 'claim']), at: instant })),
    apiTokens: z.array(apiTokenViewSchema),
    adminActions: z.array(auditEntryViewSchema),
    notifications: z.object({
      preferences: z.array(z.object({ kind: z.string(), channel: z.string(), enabled: z.boolean() })),
      devices: z.array(z.object({ endpoint: z.string(), createdAt: instant })),
      sent: z.array(z.object({ dropId: uuid, kind: z.string(), channel: z.string(), state: z.string(), sentAt: nullableInstant })),
    }),
  }),
);

/** Results of the actions (HTTP and socket acks alike). */
export const joinedSchema = named('Joined', z.object({ entry: positionedEntry, created: z.boolean() }));
export const leftSchema = named('Left', z.object({ left: z.boolean() }));
export const claimedSchema = named('Claimed', z.object({ claim: claimViewSchema, created: z.boolean() }));
export const holdsExtendedSchema = named('HoldsExtended', z.object({ extended: z.number().int() }));
export const myWaitlistsSchema = named(
  'MyWaitlists',
  z.object({
    items: z.array(
      positionViewSchema.extend({
        dropTitle: z.string(),
        allocationMode: z.enum(ALLOCATION_MODES),
      }),
    ),
  }),
);

export const mailboxSchema = named(
  'Mailbox',
  z.object({ messages: z.array(z.object({ id: z.string(), to: z.string(), subject: z.string(), text: z.string(), html: z.string(), sentAt: instant })) }),
);
export const readinessSchema = named(
  'Readiness',
  z.object({ status: z.enum(['ready', 'degraded', 'not-ready']), database: z.enum(['up', 'down']), redis: z.enum(['up', 'down', 'off']) }),
);
export const altchaChallengeSchema = named(
  'AltchaChallenge',
  z.looseObject({}).describe("an ALTCHA challenge (altcha-lib's signed format), solved by the widget and sent back as `altcha`"),
);

export const webhookEndpointViewSchema = named(
  'WebhookEndpoint',
  z.object({
    id: uuid,
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.enum(DOMAIN_EVENT_TYPES)),
    enabled: z.boolean(),
    createdAt: instant,
    updatedAt: instant,
    deliveries: z
      .object(Object.fromEntries(WEBHOOK_DELIVERY_STATUSES.map((s) => [s, z.number().int()])) as Record<WebhookDeliveryStatus, z.ZodNumber>)
      .describe('deliveries by status (PENDING includes the one being attempted)'),
  }),
);
export const createdWebhookEndpointSchema = named(
  'CreatedWebhookEndpoint',
  webhookEndpointViewSchema.extend({ secret: z.string().describe('whsec_…, the signing secret: shown this once') }),
);
export const webhookEndpointListSchema = named('WebhookEndpointList', z.object({ items: z.array(webhookEndpointViewSchema) }));
export const webhookDeliveryViewSchema = named(
  'WebhookDelivery',
  z.object({
    id: uuid,
    webhookId: z.string().describe('the `webhook-id` header: the same on every attempt and redelivery'),
    endpointId: uuid,
    eventId: z.number().int(),
    eventType: z.enum(DOMAIN_EVENT_TYPES),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: z.number().int(),
    createdAt: instant,
    lastAttemptAt: nullableInstant,
    nextAttemptAt: nullableInstant,
    deliveredAt: nullableInstant,
    lastStatus: z.number().int().nullable().describe('HTTP status of the last attempt; null when it got no answer'),
    lastError: z.string().nullable(),
    lastResponse: z.string().nullable().describe("the first bytes of the last answer's body"),
  }),
);
export const webhookDeliveryPageSchema = named(
  'WebhookDeliveryPage',
  z.object({ items: z.array(webhookDeliveryViewSchema), page: z.number().int(), pageSize: z.number().int(), total: z.number().int() }),
);
export const redeliveredSchema = named(
  'Redelivered',
  z.object({ redelivered: z.number().int(), expired: z.number().int().describe('failed deliveries whose event was pruned: left failed') }),
);

const channels = z.object({ email: z.boolean(), push: z.boolean() });
export const notificationSettingsViewSchema = named(
  'NotificationSettings',
  z.object({
    preferences: z.object(Object.fromEntries(NOTIFICATION_KINDS.map((k) => [k, channels])) as Record<NotificationKind, typeof channels>),
    emailVerified: z.boolean().describe('email notifications go only to a confirmed address'),
    push: z.object({
      publicKey: z.string().nullable().describe('the VAPID key for PushManager.subscribe; null: Web Push is off on this server'),
      devices: z.number().int().describe('browsers subscribed'),
    }),
  }),
);

export const aiStatusViewSchema = named('AiStatus', z.object({ configured: z.boolean(), model: z.string().nullable(), reason: z.string().nullable() }));

export const errorIssueSchema = named('ErrorIssue', z.object({ path: z.string(), message: z.string(), code: z.string() }));
/** RFC 9457 problem details with the stable `code`; extension fields (e.g. `reservation`, `retryAfter`) may follow. */
export const problemSchema = named(
  'Problem',
  z.looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
    detail: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    issues: z.array(errorIssueSchema).optional(),
  }),
);

// --- Each schema matches the view type the server builds, both ways (a compile-time check). ---
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<A, B> = Same<A, B> extends true ? true : never;
const agree = <A, B>(ok: Check<A, B>) => ok;
agree<z.output<typeof userViewSchema>, T.UserView>(true);
agree<z.output<typeof authResponseSchema>, T.AuthResponse>(true);
agree<z.output<typeof signupRequirementsSchema>, T.SignupRequirements>(true);
agree<z.output<typeof dropViewSchema>, T.DropView>(true);
agree<z.output<typeof dropDetailViewSchema>, T.DropDetailView>(true);
agree<z.output<typeof positionViewSchema>, T.PositionView>(true);
agree<z.output<typeof myWaitlistsSchema>['items'][number], T.MyWaitlistEntry>(true);
agree<z.output<typeof claimViewSchema>, T.ClaimView>(true);
agree<z.output<typeof reservationViewSchema>, T.ReservationView>(true);
agree<z.output<typeof rankingViewSchema>, T.RankingView>(true);
agree<z.output<typeof adminReservationsViewSchema>, T.AdminReservationsView>(true);
agree<z.output<typeof dropPageSchema>, T.Page<T.DropView>>(true);
agree<z.output<typeof apiTokenViewSchema>, T.ApiTokenView>(true);
agree<z.output<typeof eventPageSchema>, T.EventPage>(true);
agree<z.output<typeof streamEventSchema>, StreamEvent>(true);
agree<z.output<typeof auditPageSchema>, T.Page<T.AuditEntryView>>(true);
agree<z.output<typeof accountExportSchema>, T.AccountExport>(true);
agree<z.output<typeof priorityFormulaViewSchema>, T.PriorityFormulaView>(true);
agree<z.output<typeof problemSchema>['code'], Problem['code']>(true);
agree<z.output<typeof webhookEndpointViewSchema>, WebhookEndpointView>(true);
agree<z.output<typeof webhookDeliveryViewSchema>, WebhookDeliveryView>(true);
agree<z.output<typeof webhookDeliveryPageSchema>, WebhookDeliveryPage>(true);
agree<z.output<typeof aiStatusViewSchema>, AiStatusView>(true);
agree<z.output<typeof notificationSettingsViewSchema>, NotificationSettingsView>(true);
