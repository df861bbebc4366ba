import { Migration } from '@mikro-orm/migrations';

export class Migration20261129203116 extends Migration {

  override name = 'Migration20261129203116';

  override up(): void | Promise<void> {
    this.addSql(`create table "waitlist_first_join" ("user_id" uuid not null, "drop_id" uuid not null, "priority_score" int not null, "score_breakdown" jsonb not null, "joined_at" timestamptz not null, primary key ("user_id", "drop_id"));`);
    this.addSql(`create index "waitlist_first_join_drop_id_index" on "waitlist_first_join" ("drop_id");`);

    this.addSql(`alter table "drop" add "priority_formula" jsonb null;`);

    this.addSql(`alter table "reservation" add "suspended_at" timestamptz null;`);

    this.addSql(`alter table "waitlist_first_join" add constraint "waitlist_first_join_user_id_foreign" foreign key ("user_id") references "user" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "waitlist_first_join" add constraint "waitlist_first_join_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on update cascade on delete cascade;`);

    // Whoever is on a waitlist now keeps the score they have: a leave and a join cannot re-roll it.
    this.addSql(`insert into "waitlist_first_join" (user_id, drop_id, priority_score, score_breakdown, joined_at) select user_id, drop_id, priority_score, score_breakdown, joined_at from "waitlist";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "waitlist_first_join" cascade;`);

    this.addSql(`alter table "drop" drop column "priority_formula";`);

    this.addSql(`alter table "reservation" drop column "suspended_at";`);
  }

}
