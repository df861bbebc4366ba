import { z } from 'zod';

/** Passwords: long enough to matter, short enough that hashing cannot be used to burn CPU. */
export const passwordSchema = z.string().min(10, 'at least 10 characters').max(256, 'at most 256 characters');

/**
 * An address whose domain may be internationalised (bücher.de, as well as its ASCII form
 * xn--bcher-kva.de): the server compares addresses by their canonical form, domain in ASCII.
 */
const EMAIL = /^(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[\p{L}\p{N}][\p{L}\p{N}\p{M}-]*\.)+(?:[A-Za-z]{2,}|xn--[a-z0-9-]+|\p{L}{2,})$/u;

export const emailSchema = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ pattern: EMAIL, message: 'not a valid email address' }))
  .transform((email) => email.toLowerCase());

/**
 * A solved proof-of-work challenge: the ALTCHA widget's payload (base64 of its JSON), sent on
 * signup and on joining a drop that requires it. Its contents are checked by the server.
 */
export const altchaPayloadSchema = z.string().min(1).max(4096).regex(/^[A-Za-z0-9+/]+=*$/, 'not an ALTCHA payload');

export const signupBodySchema = z.object({
  email: emailSchema,
  password: passwordSchema,
  altcha: altchaPayloadSchema.optional(),
});
export type SignupBody = z.infer<typeof signupBodySchema>;

export const loginBodySchema = z.object({
  email: emailSchema,
  password: z.string().min(1).max(256),
});
export type LoginBody = z.infer<typeof loginBodySchema>;

export const changePasswordBodySchema = z.strictObject({
  currentPassword: z.string().min(1).max(256),
  newPassword: passwordSchema,
});
export type ChangePasswordBody = z.infer<typeof changePasswordBodySchema>;

/** The secret of a verification or password-reset link: 32 random bytes, base64url. */
export const linkTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a valid link token');

export const verifyEmailBodySchema = z.strictObject({ token: linkTokenSchema });
export type VerifyEmailBody = z.infer<typeof verifyEmailBodySchema>;

export const forgotPasswordBodySchema = z.strictObject({ email: emailSchema });
export type ForgotPasswordBody = z.infer<typeof forgotPasswordBodySchema>;

export const resetPasswordBodySchema = z.strictObject({ token: linkTokenSchema, newPassword: passwordSchema });
export type ResetPasswordBody = z.infer<typeof resetPasswordBodySchema>;

export const changeEmailBodySchema = z.strictObject({
  currentPassword: z.string().min(1).max(256),
  email: emailSchema,
});
export type ChangeEmailBody = z.infer<typeof changeEmailBodySchema>;

/** Browsers send the refresh token as a cookie; API clients may send it in the body. */
export const refreshBodySchema = z.object({
  refreshToken: z.string().min(16).max(200).optional(),
});

export const uuidSchema = z.uuid();

/** A drop named by id: the input of every action on one drop, over HTTP (from the path) and sockets. A malformed id is VALIDATION_FAILED. */
export const dropRefSchema = z.strictObject({ dropId: uuidSchema });
export type DropRef = z.infer<typeof dropRefSchema>;

/** Joining a drop: its id plus, for a drop that requires proof of work, the solved challenge (HTTP body or socket payload). */
export const joinPayloadSchema = dropRefSchema.safeExtend({ altcha: altchaPayloadSchema.optional() });
export type JoinPayload = z.infer<typeof joinPayloadSchema>;

const isoDate = z.iso
  .datetime({ offset: true })
  .transform((value) => new Date(value))
  .refine((date) => date.getUTCFullYear() >= 2000 && date.getUTCFullYear() <= 9999, 'year must be between 2000 and 9999');

/** Text stored in PostgreSQL, which cannot hold the NUL character. */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character');

/**
 * How a drop hands out its slots. FCFS: any waitlisted user, first come first served.
 * PRIORITY: the waitlist closes when the window opens, the ranking is frozen and published, and
 * the top `totalSlots` users hold reservations for `holdSeconds`; an unclaimed one passes on.
 * DRAW: the same line, but its order is a random permutation fixed by the committed secret
 * (each entry's draw key, docs/domain.md), ignoring scores and join times.
 */
export const ALLOCATION_MODES = ['FCFS', 'PRIORITY', 'DRAW'] as const;
export type AllocationMode = (typeof ALLOCATION_MODES)[number];
/** The modes whose slots go down a line frozen when the window opens (joining closes then; reservations with holds, backfill). */
export const LINE_MODES = ['PRIORITY', 'DRAW'] as const satisfies readonly AllocationMode[];
export type LineMode = (typeof LINE_MODES)[number];
export const hasLine = (mode: string): mode is LineMode => (LINE_MODES as readonly string[]).includes(mode);
/** How each mode is shown to users, in plain words (the client may word it its own way). */
export const ALLOCATION_MODE_TEXT: Record<AllocationMode, { label: string; explanation: string }> = {
  FCFS: {
    label: 'First come, first served',
    explanation: 'First come, first served when the window opens: join the waitlist, then claim; the first claims to arrive get the codes.',
  },
  PRIORITY: {
    label: 'Priority order',
    explanation:
      'Join before the window opens; joining closes then. The ranking is frozen and published, and the highest-ranked people get a reservation with a few minutes to claim. An unclaimed reservation passes to the next person in line, and you are told the moment one reaches you.',
  },
  DRAW: {
    label: 'Random draw',
    explanation:
      'Everyone who joins before the window opens has the same chance: the order is drawn at the opening and published, and anyone can check it. The first in the draw get a reservation with a few minutes to claim; unclaimed ones pass down the order.',
  },
};
/**
 * FCFS only: claims that arrive in the first N seconds after the window opens are not served in
 * arrival order but collected and served, when the interval ends, in the order of their draw keys
 * (the DRAW permutation). At most a minute: a claim waits for the interval's end for its answer.
 */
export const OPENING_SHUFFLE_MAX_SECONDS = 60;
export const openingShuffleText = (seconds: number) => ({
  label: 'First come, first served, with a shuffled opening',
  explanation: `Claims that arrive in the first ${seconds} second${seconds === 1 ? '' : 's'} after the window opens all have the same chance: they are put in a random order fixed in advance and published, and served in that order when the ${seconds} second${seconds === 1 ? '' : 's'} end. After that, first come, first served.`,
});
export const DEFAULT_HOLD_SECONDS = 600;
export const MAX_HOLD_SECONDS = 24 * 3600;

const dropFields = {
  title: text(200).pipe(z.string().min(1, 'required')),
  description: text(5000).default(''),
  imageUrl: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .nullable()
    .optional(),
  totalSlots: z.number().int().min(1).max(1_000_000),
  claimWindowStart: isoDate,
  claimWindowEnd: isoDate,
  isActive: z.boolean().default(true),
  allocationMode: z.enum(ALLOCATION_MODES).default('FCFS'),
  holdSeconds: z.number().int().min(1).max(MAX_HOLD_SECONDS).default(DEFAULT_HOLD_SECONDS),
  /** Joining needs a solved proof-of-work challenge (a bot gate that costs people a second or two). */
  requirePow: z.boolean().default(false),
  /** FCFS: shuffle the claims of the first N seconds (null: plain arrival order). */
  openingShuffleSeconds: z.number().int().min(1).max(OPENING_SHUFFLE_MAX_SECONDS).nullable().default(null),
};

const shuffleIssue = { message: 'only a first-come-first-served drop can shuffle its opening', path: ['openingShuffleSeconds'] };

// Zod runs object refinements even when a field already failed, so the dates may still be strings.
const windowOrder = (drop: { claimWindowStart?: unknown; claimWindowEnd?: unknown }) =>
  !(drop.claimWindowStart instanceof Date) ||
  !(drop.claimWindowEnd instanceof Date) ||
  drop.claimWindowStart.getTime() < drop.claimWindowEnd.getTime();

const windowOrderIssue = { message: 'claimWindowStart must be before claimWindowEnd', path: ['claimWindowEnd'] };

export const createDropBodySchema = z
  .strictObject(dropFields)
  .refine(windowOrder, windowOrderIssue)
  .refine((drop) => drop.openingShuffleSeconds === null || drop.openingShuffleSeconds === undefined || drop.allocationMode === 'FCFS', shuffleIssue);
export type CreateDropBody = z.infer<typeof createDropBodySchema>;

export const updateDropBodySchema = z
  .strictObject({
    title: dropFields.title.optional(),
    description: text(5000).optional(),
    imageUrl: dropFields.imageUrl,
    totalSlots: dropFields.totalSlots.optional(),
    claimWindowStart: isoDate.optional(),
    claimWindowEnd: isoDate.optional(),
    isActive: z.boolean().optional(),
    allocationMode: z.enum(ALLOCATION_MODES).optional(),
    holdSeconds: dropFields.holdSeconds.unwrap().optional(),
    requirePow: z.boolean().optional(),
    openingShuffleSeconds: dropFields.openingShuffleSeconds.unwrap().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'send at least one field to change')
  .refine(windowOrder, windowOrderIssue);
export type UpdateDropBody = z.infer<typeof updateDropBodySchema>;

export const WINDOW_ACTIONS = ['open-now', 'close-now', 'extend', 'pause', 'resume'] as const;
export type WindowAction = (typeof WINDOW_ACTIONS)[number];

/** Longest single extension or fresh window an admin can ask for: 30 days. */
export const MAX_WINDOW_SECONDS = 30 * 24 * 3600;

export const windowActionBodySchema = z
  .strictObject({
    action: z.enum(WINDOW_ACTIONS),
    seconds: z.number().int().min(1).max(MAX_WINDOW_SECONDS).optional(),
  })
  .refine((body) => body.action !== 'extend' || body.seconds !== undefined, {
    message: 'extend needs seconds',
    path: ['seconds'],
  });
export type WindowActionBody = z.infer<typeof windowActionBodySchema>;
/** The body plus the drop id (from the path over HTTP, in the payload over a socket): the same rules, refinement included. */
export const windowActionPayloadSchema = windowActionBodySchema.safeExtend({ dropId: uuidSchema });
export type WindowActionPayload = z.infer<typeof windowActionPayloadSchema>;

/** Admin: add time to every reservation hold that is still open on a drop. */
export const extendHoldsBodySchema = z.strictObject({
  seconds: z.number().int().min(1).max(MAX_HOLD_SECONDS),
});
export type ExtendHoldsBody = z.infer<typeof extendHoldsBodySchema>;
export const extendHoldsPayloadSchema = extendHoldsBodySchema.safeExtend({ dropId: uuidSchema });
export type ExtendHoldsPayload = z.infer<typeof extendHoldsPayloadSchema>;

export const DROP_STATUSES = ['upcoming', 'live', 'ended'] as const;
export type DropStatus = (typeof DROP_STATUSES)[number];

const pageNumber = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const listDropsQuerySchema = z.object({
  status: z.enum(DROP_STATUSES).optional(),
  page: pageNumber(1, 100_000),
  pageSize: pageNumber(20, 100),
});
export type ListDropsQuery = z.infer<typeof listDropsQuerySchema>;

/** Most entries one page of a published ranking carries (GET /api/drops/:id/ranking). */
export const RANKING_MAX_PAGE = 500;
/** A page of a ranking: the entries with rank > offset, at most `limit` of them. */
export const rankingQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).max(100_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(RANKING_MAX_PAGE).default(RANKING_MAX_PAGE),
});
export type RankingQuery = z.infer<typeof rankingQuerySchema>;

/** Codes are shown as XXXX-XXXX-XXXX; people may type them lower-case, with spaces or without dashes. */
export const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const CODE_LENGTH = 12;
export const redeemCodeSchema = z
  .string()
  .max(64)
  .transform((raw) => raw.toUpperCase().replace(/[\s-]/g, ''))
  .refine((code) => code.length === CODE_LENGTH && [...code].every((ch) => CODE_ALPHABET.includes(ch)), 'not a DropSpot code')
  .transform((code) => `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`);

export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** What the admin audit log records: every admin change to a drop, a code or an API token. */
export const AUDIT_ACTIONS = [
  'drop.create',
  'drop.update',
  'drop.delete',
  'window.open-now',
  'window.close-now',
  'window.extend',
  'window.pause',
  'window.resume',
  'holds.extend',
  'claim.redeem',
  'api-token.create',
  'api-token.revoke',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.redeliver',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const auditQuerySchema = z.object({
  dropId: uuidSchema.optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
  page: pageNumber(1, 100_000),
  pageSize: pageNumber(50, 200),
  format: z.enum(['json', 'csv']).default('json'),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

/** Deleting one's own account needs the current password, so a stolen access token alone cannot. */
export const deleteAccountBodySchema = z.strictObject({
  currentPassword: z.string().min(1).max(256),
});
export type DeleteAccountBody = z.infer<typeof deleteAccountBodySchema>;
