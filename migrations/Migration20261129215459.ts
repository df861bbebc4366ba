import { Migration } from '@mikro-orm/migrations';

export class Migration20261129215459 extends Migration {

  override name = 'Migration20261129215459';

  override up(): void | Promise<void> {
    this.addSql(`create table "spent_challenge" ("signature" varchar(128) not null, "expires_at" timestamptz not null, primary key ("signature"));`);
    this.addSql(`create index "spent_challenge_expires_at_index" on "spent_challenge" ("expires_at");`);

    this.addSql(`alter table "drop" add "require_pow" boolean not null default false;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "spent_challenge" cascade;`);

    this.addSql(`alter table "drop" drop column "require_pow";`);
  }

}
