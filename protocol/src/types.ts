import type { StreamEvent } from './stream.ts';
import type { AllocationMode, AuditAction, DropStatus } from './schemas.ts';

export type Role = 'USER' | 'ADMIN';
export type ClaimStatus = 'ISSUED' | 'USED';

export interface UserView {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  /** Whether the current address was confirmed through the link mailed to it. */
  emailVerified: boolean;
}

/** What the signup form needs besides an address and a password (GET /api/auth/signup). */
export interface SignupRequirements {
  /** A solved proof-of-work challenge as `altcha` (REQUIRE_POW_SIGNUP). */
  requirePow: boolean;
}

export interface AuthResponse {
  user: UserView;
  accessToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  refreshToken: string;
}

export interface WindowView {
  start: string;
  end: string;
  state: DropStatus;
  paused: boolean;
}

export interface DropView {
  id: string;
  title: string;
  description: string;
  imageUrl: string | null;
  totalSlots: number;
  claimed: number;
  remaining: number;
  waitlistCount: number;
  claimWindowStart: string;
  claimWindowEnd: string;
  window: WindowView;
  isActive: boolean;
  /** FCFS: first come, first served. PRIORITY: reservations in frozen rank order. DRAW: in a committed random order (see README). */
  allocationMode: AllocationMode;
  /** PRIORITY and DRAW: how long a reservation is held before it passes to the next in line. */
  holdSeconds: number;
  /** Joining needs a solved proof-of-work challenge (GET /api/altcha/challenge), sent as `altcha`. */
  requirePow: boolean;
  /** FCFS: the claims of the first N seconds after the opening are served in draw-key order (null: arrival order). */
  openingShuffleSeconds: number | null;
  /** FCFS with a shuffled opening: when its claims were served and the order published (GET /api/drops/:id/ranking). */
  openingSettledAt: string | null;
  /** PRIORITY, DRAW and a shuffled FCFS opening: sha256 (hex) of the drop's secret, published before the window opens; otherwise null. */
  rankingCommitment: string | null;
  /** PRIORITY and DRAW: when the ranking was frozen (the window opened); then GET /api/drops/:id/ranking reveals it. */
  rankingFrozenAt: string | null;
  /** PRIORITY: the formula its scores use, fixed when it was published; null until then (the live one, GET /api/priority, applies). */
  priorityFormula: PriorityFormulaView | null;
  publishedAt: string | null;
  createdAt: string;
  updatedAt: string;
  serverNow: string;
}

export interface ScoreBreakdown {
  base: number;
  signupLatencyMs: number;
  accountAgeDays: number;
  rapidActions: number;
  coefficients: { A: number; B: number; C: number };
  /** Each term as it enters the sum. */
  terms: { latency: number; accountAge: number; rapidActions: number };
  score: number;
}

export interface WaitlistEntryView {
  dropId: string;
  joinedAt: string;
  priorityScore: number;
  breakdown: ScoreBreakdown;
}

export interface PositionView {
  dropId: string;
  position: number;
  waitlistCount: number;
  priorityScore: number;
  joinedAt: string;
  breakdown: ScoreBreakdown;
  /** A DRAW drop not drawn yet: `position` is the join order, which plays no part in the draw. */
  drawPending: boolean;
}

/** One of the signed-in user's waitlists (GET /api/me/waitlists). */
export interface MyWaitlistEntry extends PositionView {
  dropTitle: string;
  allocationMode: AllocationMode;
}

export interface ClaimView {
  id: string;
  dropId: string;
  dropTitle: string;
  code: string;
  status: ClaimStatus;
  issuedAt: string;
  usedAt: string | null;
}

export interface DropDetailView extends DropView {
  /** Present when the request is signed in. */
  me?: {
    waitlist: (WaitlistEntryView & { position: number }) | null;
    claim: ClaimView | null;
    /** PRIORITY drops once the ranking is frozen: the user's place in line (null when not ranked). */
    reservation?: ReservationView | null;
  };
}

/**
 * A user's place in a PRIORITY drop's frozen line.
 * WAITING: not reached yet. GRANTED: may claim until `expiresAt`. CLAIMED: done.
 * EXPIRED: the hold ran out and passed on. RELEASED: the user left; it passed on.
 */
export type ReservationStatus = 'WAITING' | 'GRANTED' | 'CLAIMED' | 'EXPIRED' | 'RELEASED';

export interface ReservationView {
  dropId: string;
  /** 1-based place in the frozen ranking ("you are #214"). */
  rank: number;
  status: ReservationStatus;
  grantedAt: string | null;
  /** GRANTED: the instant the hold ends (judge the countdown against `serverNow`). */
  expiresAt: string | null;
  holdSeconds: number;
  /** WAITING: users ranked above you who are still waiting too. */
  waitingAhead: number;
  /** Reservations granted and not yet claimed (all ranked above every waiting user): each may still pass on. */
  openReservations: number;
  /** Slots not yet claimed. */
  remaining: number;
  serverNow: string;
}

/** One row of a published ranking. */
export interface RankingEntry {
  rank: number;
  /** HMAC-SHA256(secret, userId) hex, first 16 characters: only the user (and, after the reveal, anyone with their id) can link it. */
  anonId: string;
  priorityScore: number;
  joinedAt: string;
  breakdown: ScoreBreakdown;
  /** sha256(seed | secret | anonId) hex: settles exact ties in (score, joinedAt); nobody chose it. */
  tieBreak: string;
}

/** One row of a published DRAW ranking: its place is the order of the draw keys alone. */
export interface DrawEntry {
  rank: number;
  anonId: string;
  /** sha256("draw|" + secret + "|" + anonId) hex: unknown to anyone but the server until the reveal, fixed by the commitment. */
  drawKey: string;
}

/** One claim of a shuffled FCFS opening, in draw-key order, with what it got. */
export interface OpeningEntry {
  rank: number;
  anonId: string;
  /** The DRAW key: sha256("draw|" + secret + "|" + anonId) hex. */
  drawKey: string;
  /** CLAIMED: got a code; SOLD_OUT: the slots ran out before its turn; LEFT: was no longer on the waitlist when served. */
  outcome: 'CLAIMED' | 'SOLD_OUT' | 'LEFT';
}

interface RankingViewBase {
  dropId: string;
  title: string;
  totalSlots: number;
  /** sha256(secret) hex, published before the window opened. */
  commitment: string;
  /** False until the window opens; then `secret` and `entries` are filled in. */
  revealed: boolean;
  frozenAt: string | null;
  secret: string | null;
  order: string;
  total: number;
  offset: number;
  limit: number;
  /** One page: the entries with rank > `offset`, at most `limit`; `nextOffset` asks for the next (null on the last). */
  nextOffset: number | null;
  /** Signed in and ranked: your own entry's anonymized id and rank. */
  me?: { anonId: string; rank: number } | null;
}

/** GET /api/drops/:id/ranking: everything needed to recompute the order (`npm run verify-ranking`). */
export type RankingView = RankingViewBase &
  (
    | {
        allocationMode: 'PRIORITY';
        /** The formula this drop's scores were computed with: the one in force when it was published. */
        formula: PriorityFormulaView;
        entries: RankingEntry[];
      }
    | {
        allocationMode: 'DRAW';
        formula: null;
        entries: DrawEntry[];
      }
    | {
        /** A shuffled FCFS opening: the claims of its first `openingShuffleSeconds`, revealed once served (`frozenAt`). */
        allocationMode: 'FCFS';
        formula: null;
        openingShuffleSeconds: number;
        /** Free slots when the opening's claims were served: the first `slots` entries not LEFT are CLAIMED. */
        slots: number | null;
        entries: OpeningEntry[];
      }
  );
export type PriorityRankingView = Extract<RankingView, { allocationMode: 'PRIORITY' }>;
export type DrawRankingView = Extract<RankingView, { allocationMode: 'DRAW' }>;
export type OpeningRankingView = Extract<RankingView, { allocationMode: 'FCFS' }>;

/** Admin view of one PRIORITY drop's line. */
export interface AdminReservationsView {
  dropId: string;
  totalSlots: number;
  claimed: number;
  holdSeconds: number;
  frozenAt: string | null;
  counts: Record<ReservationStatus, number>;
  items: {
    rank: number;
    userId: string;
    email: string;
    status: ReservationStatus;
    grantedAt: string | null;
    expiresAt: string | null;
    endedAt: string | null;
  }[];
  serverNow: string;
}

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
  serverNow: string;
}

export interface PriorityFormulaView {
  seed: string;
  inputs: { remoteUrl: string; firstCommitEpoch: number; startTime: string };
  base: number;
  coefficients: { A: number; B: number; C: number };
  formula: string;
  rapidActionsWindowSeconds: number;
}

/** An API token for the event stream; the secret itself is shown once, when it is created. */
export interface ApiTokenView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/**
 * `GET /api/admin/events`: published events after `after`, the newest id there is, and the oldest
 * id still kept (older events were pruned: OUTBOX_RETENTION_HOURS); both 0 before the first event.
 */
export interface EventPage {
  items: StreamEvent[];
  next: number;
  newest: number;
  oldest: number;
}

/** One admin action: who (id and email at the time), what, on which drop, when, from where. */
export interface AuditEntryView {
  id: number;
  at: string;
  actorId: string | null;
  actorEmail: string | null;
  actorIp: string | null;
  action: AuditAction;
  dropId: string | null;
  /** The claim or API token acted on, when the action is about one. */
  targetId: string | null;
  /** What changed: the fields sent, the window action's seconds, the token's name, ... */
  details: Record<string, unknown>;
}

/** Everything DropSpot keeps about one account (GET /api/me/export). */
export interface AccountExport {
  exportedAt: string;
  user: UserView;
  waitlists: (WaitlistEntryView & { dropTitle: string })[];
  claims: ClaimView[];
  sessions: { id: string; createdAt: string; expiresAt: string; revokedAt: string | null; revokedReason: string | null; userAgent: string | null; current: boolean }[];
  /** The join, leave and claim requests counted for the priority formula (kept for an hour). */
  actions: { kind: 'join' | 'leave' | 'claim'; at: string }[];
  apiTokens: ApiTokenView[];
  /** Admin actions this account made, from the audit log. */
  adminActions: AuditEntryView[];
  /** Notification switches changed from their default, the browsers subscribed to Web Push, and each notification planned or sent. */
  notifications: {
    preferences: { kind: string; channel: string; enabled: boolean }[];
    devices: { endpoint: string; createdAt: string }[];
    sent: { dropId: string; kind: string; channel: string; state: string; sentAt: string | null }[];
  };
}
