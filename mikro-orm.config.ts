import path from 'node:path';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './server/src/db/entities.ts';

const migrationsDir = path.join(import.meta.dirname, 'migrations');

/** The embedded database's address when DATABASE_URL is not set (see server/src/db/embedded-postgres.ts). */
export const EMBEDDED_DB = { user: 'dropspot', password: 'dropspot', database: 'dropspot' } as const;

export function embeddedDatabaseUrl(port: number, database: string = EMBEDDED_DB.database): string {
  return `postgres://${EMBEDDED_DB.user}:${EMBEDDED_DB.password}@127.0.0.1:${port}/${database}`;
}

/** The one ORM configuration: the app, the tests and the MikroORM CLI all build theirs here. */
export function ormConfig(clientUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    // Entities come from `defineEntity`, so nothing is discovered from the file system.
    discovery: { warnWhenNoEntities: true },
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: '!(*.d).ts',
      snapshot: true,
      snapshotName: '.snapshot-dropspot',
      // Only `migration:create` writes the snapshot. Migrating (the app at start, each test file's
      // database) must not rewrite it from introspection: introspection does not return the drop's
      // window_sequence trigger and spells partial-index predicates its own way, so a rewrite would
      // drop the trigger from the committed snapshot and make the schema check fail.
      snapshotOnMigrate: false,
      transactional: true,
      allOrNothing: true,
      emit: 'ts',
    },
    pool: { min: 0, max: 20 },
    // Keeps the ORM from importing an optional dependency just to colour log lines.
    debug: false,
    ...overrides,
  });
}

export default ormConfig(
  process.env.DATABASE_URL ?? embeddedDatabaseUrl(Number(process.env.EMBEDDED_PG_PORT ?? 54329)),
);
