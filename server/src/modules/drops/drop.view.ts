import { hasLine, type DropStatus, type DropView, type WindowView } from '@dropspot/protocol';
import { commitmentOf } from '../reservations/ranking.ts';
import type { Drop } from './drop.entity.ts';

export function windowState(start: Date, end: Date, now: Date): DropStatus {
  if (now.getTime() < start.getTime()) return 'upcoming';
  if (now.getTime() < end.getTime()) return 'live';
  return 'ended';
}

export function toWindowView(drop: Drop, now: Date): WindowView {
  return {
    start: drop.claimWindowStart.toISOString(),
    end: drop.claimWindowEnd.toISOString(),
    state: windowState(drop.claimWindowStart, drop.claimWindowEnd, now),
    paused: drop.pausedAt !== null && drop.pausedAt !== undefined,
  };
}

export function toDropView(drop: Drop, waitlistCount: number, now: Date): DropView {
  return {
    id: drop.id,
    title: drop.title,
    description: drop.description,
    imageUrl: drop.imageUrl ?? null,
    totalSlots: drop.totalSlots,
    claimed: drop.claimed,
    remaining: drop.totalSlots - drop.claimed,
    waitlistCount,
    claimWindowStart: drop.claimWindowStart.toISOString(),
    claimWindowEnd: drop.claimWindowEnd.toISOString(),
    window: toWindowView(drop, now),
    isActive: drop.isActive,
    allocationMode: drop.allocationMode,
    holdSeconds: drop.holdSeconds,
    requirePow: drop.requirePow,
    openingShuffleSeconds: drop.openingShuffleSeconds ?? null,
    openingSettledAt: drop.openingSettledAt?.toISOString() ?? null,
    rankingCommitment: (hasLine(drop.allocationMode) || drop.openingShuffleSeconds) && drop.rankingSecret ? commitmentOf(drop.rankingSecret) : null,
    rankingFrozenAt: drop.rankingFrozenAt?.toISOString() ?? null,
    priorityFormula: drop.allocationMode === 'PRIORITY' ? (drop.priorityFormula ?? null) : null,
    publishedAt: drop.publishedAt?.toISOString() ?? null,
    createdAt: drop.createdAt.toISOString(),
    updatedAt: drop.updatedAt.toISOString(),
    serverNow: now.toISOString(),
  };
}
