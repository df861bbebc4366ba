import type { DropView } from '@dropspot/protocol';

export type WindowPhase = 'upcoming' | 'live' | 'paused' | 'ended' | 'inactive' | 'removed';

/**
 * Where a drop's window stands at `now` (server time). The server decides every claim in its own
 * transaction; this only lets the page flip at the exact instant instead of waiting for a message.
 */
export function windowPhase(drop: DropView, now: number): WindowPhase {
  if (!drop.isActive) return 'inactive';
  const start = Date.parse(drop.window.start);
  const end = Date.parse(drop.window.end);
  if (now < start) return 'upcoming';
  if (now >= end) return 'ended';
  return drop.window.paused ? 'paused' : 'live';
}

export const PHASE_LABEL: Record<WindowPhase, string> = {
  upcoming: 'Upcoming',
  live: 'Live now',
  paused: 'Paused',
  ended: 'Ended',
  inactive: 'Unpublished',
  removed: 'Removed',
};

/** Badge colours; the label always says the same in words, so colour is never the only cue. */
export const PHASE_STYLE: Record<WindowPhase, string> = {
  upcoming: 'bg-sky-100 text-sky-900',
  live: 'bg-emerald-100 text-emerald-900',
  paused: 'bg-amber-100 text-amber-900',
  ended: 'bg-slate-200 text-slate-800',
  inactive: 'bg-slate-200 text-slate-800',
  removed: 'bg-red-100 text-red-900',
};

export function percentRemaining(drop: Pick<DropView, 'remaining' | 'totalSlots'>): number {
  return drop.totalSlots > 0 ? Math.max(0, Math.min(100, (drop.remaining / drop.totalSlots) * 100)) : 0;
}

/** How many of a drop's latest admin actions its console shows. */
export const CONSOLE_AUDIT_ROWS = 8;
