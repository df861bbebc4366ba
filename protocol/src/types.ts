import type { StreamEvent } from './events.ts';
import type { AuditAction, DropStatus } from './schemas.ts';

export type Role = 'USER' | 'ADMIN';
export type ClaimStatus = 'ISSUED' | 'USED';

export interface UserView {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
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
  };
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

/** `GET /api/admin/events`: published events after `after`, and the newest id there is. */
export interface EventPage {
  items: StreamEvent[];
  next: number;
  newest: number;
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
}
