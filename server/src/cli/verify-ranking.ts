import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { RANKING_MAX_PAGE, type RankingView } from '@dropspot/protocol';
import { verifyRanking } from '../modules/reservations/ranking.ts';

/**
 * npm run verify-ranking -- <dropId | file.json> [--url http://127.0.0.1:3000]
 *
 * Recomputes a PRIORITY or DRAW drop's published ranking, or an FCFS drop's shuffled opening, from
 * the published data alone: the commitment against the revealed secret; for PRIORITY the drop's
 * formula's seed and coefficients from their inputs, every score from its breakdown, every
 * tie-break, and the order; for DRAW every draw key from the secret and the anonymized id, and the
 * order of the keys; for a shuffled opening the same, and that the first free slots' worth of
 * entries still on the waitlist got the codes and the rest were sold out. A drop id is fetched from the server
 * page by page (waiting out a rate limit when told to); a file is a saved copy of
 * GET /api/drops/:id/ranking with every entry. Exit 0 when everything matches, 1 with the differences.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function getJson<T>(url: string): Promise<T> {
  for (;;) {
    const res = await fetch(url);
    const body = (await res.json()) as T & { code?: string; detail?: string; retryAfter?: number };
    if (res.status === 429) {
      await new Promise((resolve) => setTimeout(resolve, (body.retryAfter ?? 1) * 1000));
      continue;
    }
    if (!res.ok) throw new Error(`${url} answered ${res.status} ${body.code ?? ''} ${body.detail ?? ''}`.trim());
    return body;
  }
}

/** Every page of a drop's ranking, put together into one. */
async function fetchRanking(base: string, dropId: string): Promise<RankingView> {
  const first = await getJson<RankingView>(`${base}/api/drops/${dropId}/ranking?offset=0&limit=${RANKING_MAX_PAGE}`);
  const whole = structuredClone(first);
  for (let offset = first.nextOffset; offset !== null; ) {
    const page = await getJson<RankingView>(`${base}/api/drops/${dropId}/ranking?offset=${offset}&limit=${RANKING_MAX_PAGE}`);
    if (page.frozenAt !== first.frozenAt || page.secret !== first.secret || page.allocationMode !== whole.allocationMode) throw new Error('the ranking changed between pages');
    if (whole.allocationMode === 'DRAW' && page.allocationMode === 'DRAW') whole.entries.push(...page.entries);
    if (whole.allocationMode === 'PRIORITY' && page.allocationMode === 'PRIORITY') whole.entries.push(...page.entries);
    if (whole.allocationMode === 'FCFS' && page.allocationMode === 'FCFS') whole.entries.push(...page.entries);
    offset = page.nextOffset;
  }
  return { ...whole, offset: 0, limit: whole.entries.length, nextOffset: null };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:3000' } }, allowPositionals: true });
  const target = positionals[0];
  if (!target) {
    console.error('usage: npm run verify-ranking -- <dropId | ranking.json> [--url http://127.0.0.1:3000]');
    return 2;
  }
  const ranking = UUID.test(target)
    ? await fetchRanking(values.url.replace(/\/+$/, ''), target)
    : (JSON.parse(await readFile(target, 'utf8')) as RankingView);
  const problems = verifyRanking(ranking);
  if (problems.length > 0) {
    console.log(`MISMATCH: the ranking of drop ${ranking.dropId} does not match its published data (${problems.length} problem${problems.length === 1 ? '' : 's'}):`);
    for (const problem of problems) console.log(`  - ${problem}`);
    return 1;
  }
  const recomputed =
    ranking.allocationMode === 'PRIORITY' ? `seed ${ranking.formula.seed}, scores, tie-breaks, order` : ranking.allocationMode === 'DRAW' ? 'draw keys, order' : `draw keys, order, outcomes for ${ranking.slots} free slots`;
  const what = ranking.allocationMode === 'FCFS' ? `shuffled opening (${ranking.openingShuffleSeconds} s)` : `${ranking.allocationMode} ranking`;
  console.log(
    `OK: the ${what} of drop ${ranking.dropId} ("${ranking.title}") matches: commitment ${ranking.commitment.slice(0, 16)}…, ` +
      `${ranking.entries.length} entries recomputed (${recomputed}).`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`verify-ranking: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
