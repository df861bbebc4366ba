import type { EntityManager } from '@mikro-orm/postgresql';
import { MikroKyselyPlugin, type InferKyselyDB } from '@mikro-orm/sql';
import { sql, type Expression, type Kysely, type RawBuilder } from 'kysely';
import type { entities } from './entities.ts';

/**
 * How typed SQL is written (MikroORM's Kysely integration, see ARCHITECTURE.md "Data access"):
 * tables by their table names (`drop`, `outbox_event`), columns by the entities' property names
 * (`priorityScore`, a relation by its name: `drop`, `user`), and values converted both ways by
 * the entities' types. The conversion is what makes the inferred types true: MikroORM's pg
 * connection hands timestamps and bigints over as text, and `convertValues` turns an entity
 * column back into the `Date` or `number` its property says (and a JSON value into JSON on the
 * way in). A value computed in SQL is not an entity column: type it where it is written.
 */
const OPTIONS = { columnNamingStrategy: 'property', convertValues: true } as const;

/** The database as the entities (`defineEntity`) describe it, in the naming above. */
export type Database = InferKyselyDB<(typeof entities)[number], typeof OPTIONS>;

/**
 * A Kysely bound to `em`: inside `em.transactional` (every `transaction(orm, …)`) its queries run
 * in that transaction; on a plain fork they take a pooled connection each.
 */
export function db(em: EntityManager): Kysely<Database> {
  return em.getKysely<Database>().withPlugin(pluginFor(em));
}

/**
 * One plugin per ORM, not one per call as `em.getKysely(OPTIONS)` makes: it reads only the ORM's
 * metadata and platform (none of the options here use the EntityManager itself), keeps no state
 * between queries, so it is shared, and a hot path does not build a transformer per statement.
 */
const plugins = new WeakMap<object, MikroKyselyPlugin>();
function pluginFor(em: EntityManager): MikroKyselyPlugin {
  const metadata = em.getMetadata();
  let plugin = plugins.get(metadata);
  if (!plugin) plugins.set(metadata, (plugin = new MikroKyselyPlugin(em, OPTIONS)));
  return plugin;
}

/**
 * The database clock at this statement (`clock_timestamp()`, not `now()`, the transaction's start):
 * for comparisons and writes. Read back, a computed instant is PostgreSQL's text: `clockText`.
 */
export const clock = sql<Date>`clock_timestamp()`;
export const clockText = sql<string>`clock_timestamp()`;

/** `count(*)` as an int4: a bare count is a bigint, which arrives as text. */
export const countInt = sql<number>`count(*)::int`;

/** A duration of `seconds` (a number or an expression) for timestamp arithmetic. */
export const secondsInterval = (seconds: unknown) => sql<string>`make_interval(secs => ${seconds})`;

/** An instant `seconds` (a number or an expression) after `at`. */
export const plusSeconds = <T extends Date | null>(at: Expression<T>, seconds: unknown) => sql<T>`${at} + ${secondsInterval(seconds)}`;

/**
 * A statement written elsewhere with numbered parameters ($1, $2…: pg-boss's own SQL, see
 * `Mailer.jobStatement`) as a fragment of ours, each `$n` bound to `values[n - 1]`: e.g. one
 * data-modifying WITH of a larger statement (parenthesised, as a WITH body must be). Its text is that library's, passed through.
 */
export function numbered<O = unknown>(text: string, values: readonly unknown[]): RawBuilder<O> {
  const parts = text.split(/\$(\d+)/);
  // In parentheses: Kysely writes a raw WITH body as it is.
  return sql<O>`(${sql.join(
    parts.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql`${values[Number(part) - 1] ?? null}`)),
    sql.raw(''),
  )})`;
}
