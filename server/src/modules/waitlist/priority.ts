import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { PriorityFormulaView, ScoreBreakdown } from '@dropspot/protocol';
import { ROOT_DIR, type Config } from '../../config.ts';

export const RAPID_ACTIONS_WINDOW_SECONDS = 60;
const DAY_MS = 86_400_000;

function git(args: string[]): string | undefined {
  try {
    const out = execFileSync('git', args, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}

export interface PriorityFormula {
  view: PriorityFormulaView;
  score(input: { signupLatencyMs: number; accountAgeDays: number; rapidActions: number }): ScoreBreakdown;
}

/**
 * The formula of docs/domain.md, "Priority score". The seed is sha256("<remote_url>|<first_commit_epoch>|<start_time>");
 * each input is configuration, defaulting to this repository's git metadata, so a deployment
 * without git still has a (published) seed.
 */
export function createPriorityFormula(config: Readonly<Config>['priority']): PriorityFormula {
  const remoteUrl = config.remoteUrl ?? git(['config', '--get', 'remote.origin.url']) ?? '';
  const firstCommitEpoch =
    config.firstCommitEpoch ?? Number(git(['log', '--reverse', '--format=%ct', '--max-parents=0'])?.split('\n')[0] ?? 0);
  const seed = createHash('sha256').update(`${remoteUrl}|${firstCommitEpoch}|${config.startTime}`).digest('hex').slice(0, 12);
  const byte = (from: number) => parseInt(seed.slice(from, from + 2), 16);
  const coefficients = { A: 7 + (byte(0) % 5), B: 13 + (byte(2) % 7), C: 3 + (byte(4) % 3) };

  const view: PriorityFormulaView = {
    seed,
    inputs: { remoteUrl, firstCommitEpoch, startTime: config.startTime },
    base: config.base,
    coefficients,
    formula: 'score = base + (signup_latency_ms % A) + (account_age_days % B) - (rapid_actions % C)',
    rapidActionsWindowSeconds: RAPID_ACTIONS_WINDOW_SECONDS,
  };
  return { view, score: (input) => scoreWith(view, input) };
}

/** A score under a given formula: a drop's own (stored when it was published) or the live one. */
export function scoreWith(
  formula: Pick<PriorityFormulaView, 'base' | 'coefficients'>,
  { signupLatencyMs, accountAgeDays, rapidActions }: { signupLatencyMs: number; accountAgeDays: number; rapidActions: number },
): ScoreBreakdown {
  const { base, coefficients } = formula;
  const terms = {
    latency: signupLatencyMs % coefficients.A,
    accountAge: accountAgeDays % coefficients.B,
    rapidActions: -(rapidActions % coefficients.C),
  };
  return { base, signupLatencyMs, accountAgeDays, rapidActions, coefficients, terms, score: base + terms.latency + terms.accountAge + terms.rapidActions };
}

export function wholeDaysBetween(from: Date, to: Date): number {
  return Math.max(0, Math.floor((to.getTime() - from.getTime()) / DAY_MS));
}
