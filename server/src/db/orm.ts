import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../mikro-orm.config.ts';

export type Orm = MikroORM;

/** Connects and applies every pending committed migration, so the schema always matches the code. */
export async function initOrm(clientUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  const orm = await MikroORM.init(ormConfig(clientUrl, overrides));
  await orm.migrator.up();
  return orm;
}
