/**
 * Every failure DropSpot reports carries one of these codes, over HTTP (problem+json `code`)
 * and in Socket.IO acks. The HTTP status belongs to the code, so both sides agree on it.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  /** Signup or change of email with a throw-away (disposable) mailbox's domain. */
  EMAIL_DISPOSABLE: 400,
  /** A verification or password-reset link that is unknown, already used or for an address the account no longer has. */
  LINK_INVALID: 400,
  /** A verification or password-reset link past its expiry: ask for a new one. */
  LINK_EXPIRED: 400,
  INVALID_JSON: 400,
  /** Signup (REQUIRE_POW_SIGNUP) or joining a drop that requires it, without a solved proof-of-work challenge. */
  POW_REQUIRED: 400,
  /** A proof-of-work payload that is malformed, not ours, expired or not a solution. */
  POW_INVALID: 400,
  /** A proof-of-work solution that was already used once. */
  POW_REPLAYED: 400,
  /** A webhook URL that is not http(s), carries credentials, or resolves to a private, loopback, link-local or otherwise non-public address (unless WEBHOOK_ALLOW_PRIVATE). */
  WEBHOOK_URL_REFUSED: 400,
  /** A push subscription whose endpoint is not an https push service this server posts to. */
  PUSH_ENDPOINT_REFUSED: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_INVALID: 401,
  SESSION_REVOKED: 401,
  REFRESH_TOKEN_INVALID: 401,
  REFRESH_TOKEN_REUSED: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  /** Joining and claiming need a verified address when REQUIRE_VERIFIED_EMAIL is on. */
  EMAIL_NOT_VERIFIED: 403,
  NOT_FOUND: 404,
  DROP_NOT_FOUND: 404,
  CODE_NOT_FOUND: 404,
  /** Web Push is not configured on this server (no VAPID keys). */
  PUSH_UNAVAILABLE: 404,
  METHOD_NOT_ALLOWED: 405,
  EMAIL_TAKEN: 409,
  DROP_NOT_ACTIVE: 409,
  WINDOW_NOT_OPEN: 409,
  WINDOW_CLOSED: 409,
  WINDOW_PAUSED: 409,
  WAITLIST_CLOSED: 409,
  NOT_ON_WAITLIST: 409,
  /** PRIORITY drops: only a user holding a live reservation may claim; the problem carries `reservation` (their place in line). */
  NOT_YOUR_TURN: 409,
  SOLD_OUT: 409,
  ALREADY_REDEEMED: 409,
  SLOTS_BELOW_CLAIMED: 409,
  /** "Suggest a description" without AI_BASE_URL and AI_MODEL on the server. */
  AI_NOT_CONFIGURED: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  /** Redelivering a webhook delivery that has not failed (it is pending or was delivered). */
  DELIVERY_NOT_FAILED: 409,
  /** Events asked for (a stream resume, a replay page, a webhook redelivery) that are older than the history kept (OUTBOX_RETENTION_HOURS); carries `oldestEventId`. */
  EVENTS_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_MISMATCH: 422,
  /**
   * The description helper's provider failed (refused, errored, unreachable) or took longer than
   * AI_TIMEOUT_SECONDS: 424, the request depended on it, never a 5xx of DropSpot's own.
   */
  AI_UNAVAILABLE: 424,
  AI_TIMEOUT: 424,
  RATE_LIMITED: 429,
  /** A socket handshake past the open connections allowed per account or per address. */
  TOO_MANY_CONNECTIONS: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** One zod issue as reported to clients: where (dotted path) and what. */
export interface ErrorIssue {
  path: string;
  message: string;
  code: string;
}

/** RFC 9457 problem details with DropSpot's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance?: string;
  requestId?: string;
  issues?: ErrorIssue[];
  [extension: string]: unknown;
}
