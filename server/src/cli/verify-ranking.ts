import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { PriorityFormulaView, RankingView } from '@dropspot/protocol';
import { verifyRanking } from '../modules/reservations/ranking.ts';

/**
 * npm run verify-ranking -- <dropId | file.json> [--url http://127.0.0.1:3000]
 *
 * Recomputes a PRIORITY drop's published ranking from the published data alone: the commitment
 * against the revealed secret, the formula's seed and coefficients from their inputs, every score
 * from its breakdown, every tie-break, and the order. A drop id is fetched from the server (with
 * its GET /api/priority, to check the ranking used the published formula); a file is a saved
 * copy of GET /api/drops/:id/ranking. Exit 0 when everything matches, 1 with the differences.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as T & { code?: string; detail?: string };
  if (!res.ok) throw new Error(`${url} answered ${res.status} ${body.code ?? ''} ${body.detail ?? ''}`.trim());
  return body;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:3000' } }, allowPositionals: true });
  const target = positionals[0];
  if (!target) {
    console.error('usage: npm run verify-ranking -- <dropId | ranking.json> [--url http://127.0.0.1:3000]');
    return 2;
  }
  let ranking: RankingView;
  let published: PriorityFormulaView | undefined;
  if (UUID.test(target)) {
    const base = values.url.replace(/\/+$/, '');
    ranking = await getJson<RankingView>(`${base}/api/drops/${target}/ranking`);
    published = await getJson<PriorityFormulaView>(`${base}/api/priority`);
  } else {
    ranking = JSON.parse(await readFile(target, 'utf8')) as RankingView;
  }
  const problems = verifyRanking(ranking, published);
  if (problems.length > 0) {
    console.log(`MISMATCH: the ranking of drop ${ranking.dropId} does not match its published data (${problems.length} problem${problems.length === 1 ? '' : 's'}):`);
    for (const problem of problems) console.log(`  - ${problem}`);
    return 1;
  }
  console.log(
    `OK: the ranking of drop ${ranking.dropId} ("${ranking.title}") matches: commitment ${ranking.commitment.slice(0, 16)}…, ` +
      `seed ${ranking.formula.seed}, ${ranking.entries.length} entries recomputed (scores, tie-breaks, order).`,
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
