import { createHash, createHmac } from 'node:crypto';
import type { DrawEntry, LineMode, OpeningEntry, PriorityFormulaView, RankingEntry, RankingView, ScoreBreakdown } from '@dropspot/protocol';

/**
 * The frozen ranking of a PRIORITY or DRAW drop and how anyone checks it. Everything here is a pure
 * function of published data, so the server and `npm run verify-ranking` compute the same thing.
 */

export const RANKING_ORDER: Record<LineMode, string> = {
  PRIORITY: 'priorityScore DESC, joinedAt ASC, tieBreak ASC (hex string order)',
  DRAW: 'drawKey ASC (hex string order), drawKey = sha256("draw|" + secret + "|" + anonId)',
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Published before the window opens: binds the server to a secret it cannot change afterwards. */
export const commitmentOf = (secret: string) => sha256(secret);

/** A per-drop pseudonym: anyone holding the revealed secret and a user's id can find that user's row, nobody else. */
export const anonIdOf = (secret: string, userId: string) => createHmac('sha256', secret).update(userId).digest('hex').slice(0, 16);

/** Settles exact ties: derived from the global seed and the drop's committed secret, never from row order. */
export const tieBreakOf = (seed: string, secret: string, anonId: string) => sha256(`${seed}|${secret}|${anonId}`);

/**
 * DRAW: an entry's place in the random order. The secret was committed before anyone joined and
 * stays hidden until the freeze, so nobody (but the server) can predict a key or steer one by
 * joining at a chosen moment; after the reveal anyone recomputes every key from the secret and the
 * published anonymized ids. Keys are distinct (sha256 of distinct inputs), so the order has no ties.
 */
export const drawKeyOf = (secret: string, anonId: string) => sha256(`draw|${secret}|${anonId}`);

/** drawKey ASC: the DRAW order, used to freeze and to verify. */
export const compareDrawKeys = (a: { drawKey: string }, b: { drawKey: string }) => (a.drawKey < b.drawKey ? -1 : a.drawKey > b.drawKey ? 1 : 0);

export interface Rankable {
  priorityScore: number;
  joinedAt: string | Date;
  tieBreak: string;
}

const millis = (value: string | Date) => (value instanceof Date ? value.getTime() : Date.parse(value));

/** (priorityScore DESC, joinedAt ASC, tieBreak ASC): the one order, used to freeze and to verify. */
export function compareRankable(a: Rankable, b: Rankable): number {
  if (a.priorityScore !== b.priorityScore) return b.priorityScore - a.priorityScore;
  const byTime = millis(a.joinedAt) - millis(b.joinedAt);
  if (byTime !== 0) return byTime;
  return a.tieBreak < b.tieBreak ? -1 : a.tieBreak > b.tieBreak ? 1 : 0;
}

/** The seed and coefficients from the formula's published inputs (docs/domain.md, "Priority score"). */
export function formulaFromInputs(inputs: PriorityFormulaView['inputs']) {
  const seed = sha256(`${inputs.remoteUrl}|${inputs.firstCommitEpoch}|${inputs.startTime}`).slice(0, 12);
  const byte = (from: number) => parseInt(seed.slice(from, from + 2), 16);
  return { seed, coefficients: { A: 7 + (byte(0) % 5), B: 13 + (byte(2) % 7), C: 3 + (byte(4) % 3) } };
}

/** The score from a breakdown's measured inputs and the published coefficients. */
export function scoreOf(base: number, coefficients: { A: number; B: number; C: number }, b: Pick<ScoreBreakdown, 'signupLatencyMs' | 'accountAgeDays' | 'rapidActions'>): number {
  return base + (b.signupLatencyMs % coefficients.A) + (b.accountAgeDays % coefficients.B) - (b.rapidActions % coefficients.C);
}

/**
 * Recomputes a published ranking (every page put together): the commitment and the ranks, then
 * for PRIORITY the formula's seed and coefficients, every score from its breakdown, every
 * tie-break and the order (the formula is the drop's own, published with the commitment before
 * the window opened), for DRAW every draw key and their order. Returns what does not match.
 */
export function verifyRanking(ranking: RankingView): string[] {
  if (!ranking.revealed || !ranking.secret) return ['the ranking is not revealed yet (the window has not opened, or a shuffled opening is not served yet)'];
  const problems: string[] = [];
  if (commitmentOf(ranking.secret) !== ranking.commitment) problems.push(`commitment: sha256(secret) is ${commitmentOf(ranking.secret)}, published ${ranking.commitment}`);
  if (ranking.total !== undefined && ranking.total !== ranking.entries.length) problems.push(`entries: ${ranking.entries.length} listed, the ranking has ${ranking.total}`);
  const ranks: { rank: number; anonId: string }[] = ranking.entries;
  const seen = new Set<string>();
  ranks.forEach((entry, index) => {
    if (entry.rank !== index + 1) problems.push(`rank ${entry.rank} (${entry.anonId}): listed at position ${index + 1}`);
    if (seen.has(entry.anonId)) problems.push(`rank ${entry.rank} (${entry.anonId}): anonymized id appears twice`);
    seen.add(entry.anonId);
  });
  if (ranking.allocationMode === 'DRAW') return [...problems, ...verifyDraw(ranking.secret, ranking.entries)];
  if (ranking.allocationMode === 'FCFS') return [...problems, ...verifyOpening(ranking.secret, ranking.entries, ranking.slots)];
  return [...problems, ...verifyPriority(ranking.secret, ranking.formula, ranking.entries)];
}

/** DRAW: every draw key from the secret and the anonymized id, and the order of the keys. */
function verifyDraw(secret: string, entries: DrawEntry[]): string[] {
  const problems: string[] = [];
  for (const entry of entries) {
    const key = drawKeyOf(secret, entry.anonId);
    if (key !== entry.drawKey) problems.push(`rank ${entry.rank} (${entry.anonId}): draw key ${entry.drawKey}, recomputed ${key}`);
  }
  const sorted = entries.map((e) => ({ anonId: e.anonId, drawKey: drawKeyOf(secret, e.anonId) })).sort(compareDrawKeys);
  sorted.forEach((entry, index) => {
    const listed = entries[index]!;
    if (listed.anonId !== entry.anonId) problems.push(`order: position ${index + 1} should be ${entry.anonId}, published ${listed.anonId}`);
  });
  return problems;
}

/**
 * A shuffled FCFS opening: the draw keys and their order as for DRAW, then the outcomes: with
 * `slots` free slots when it was served, the first `slots` entries still on the waitlist (not
 * LEFT) are CLAIMED and every later one SOLD_OUT, so no claim was served out of the draw's order.
 */
function verifyOpening(secret: string, entries: OpeningEntry[], slots: number | null): string[] {
  const problems = verifyDraw(secret, entries);
  if (slots === null) return [...problems, 'slots: the free slots at the opening are not published'];
  let served = 0;
  for (const entry of entries) {
    if (entry.outcome === 'LEFT') continue;
    const expected = served < slots ? 'CLAIMED' : 'SOLD_OUT';
    if (entry.outcome !== expected) problems.push(`rank ${entry.rank} (${entry.anonId}): ${entry.outcome}, but with ${slots} free slots and ${served} served ahead of it, it should be ${expected}`);
    if (expected === 'CLAIMED') served += 1;
  }
  return problems;
}

/** PRIORITY: the formula's seed and coefficients, every score and tie-break, and the order. */
function verifyPriority(secret: string, formula: PriorityFormulaView, entries: RankingEntry[]): string[] {
  const problems: string[] = [];
  const derived = formulaFromInputs(formula.inputs);
  if (derived.seed !== formula.seed) problems.push(`seed: the inputs give ${derived.seed}, published ${formula.seed}`);
  for (const key of ['A', 'B', 'C'] as const) {
    if (derived.coefficients[key] !== formula.coefficients[key]) problems.push(`coefficient ${key}: the seed gives ${derived.coefficients[key]}, published ${formula.coefficients[key]}`);
  }
  entries.forEach((entry) => {
    const where = `rank ${entry.rank} (${entry.anonId})`;
    const score = scoreOf(formula.base, formula.coefficients, entry.breakdown);
    if (score !== entry.priorityScore) problems.push(`${where}: score ${entry.priorityScore}, but its breakdown gives ${score}`);
    const used = entry.breakdown.coefficients;
    if (used.A !== formula.coefficients.A || used.B !== formula.coefficients.B || used.C !== formula.coefficients.C || entry.breakdown.base !== formula.base) {
      problems.push(`${where}: its breakdown used base ${entry.breakdown.base} and A=${used.A} B=${used.B} C=${used.C}, not the published formula`);
    }
    if (entry.breakdown.score !== entry.priorityScore) problems.push(`${where}: breakdown says ${entry.breakdown.score}, entry says ${entry.priorityScore}`);
    const tieBreak = tieBreakOf(formula.seed, secret, entry.anonId);
    if (tieBreak !== entry.tieBreak) problems.push(`${where}: tie-break ${entry.tieBreak}, recomputed ${tieBreak}`);
  });
  const sorted = [...entries].sort(compareRankable);
  sorted.forEach((entry, index) => {
    const listed = entries[index]!;
    if (listed.anonId !== entry.anonId) problems.push(`order: position ${index + 1} should be ${entry.anonId} (score ${entry.priorityScore}), published ${listed.anonId} (score ${listed.priorityScore})`);
  });
  return problems;
}
