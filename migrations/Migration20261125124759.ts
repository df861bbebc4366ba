import { Migration } from '@mikro-orm/migrations';

export class Migration20261125124759 extends Migration {

  override name = 'Migration20261125124759';

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox_event" ("id" bigserial primary key, "seq" bigint null, "type" text not null, "drop_id" uuid null, "user_id" uuid null, "dedupe_key" varchar(200) null, "payload" jsonb not null, "created_at" timestamptz not null default now(), "published_at" timestamptz null);`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_seq_unique" unique ("seq");`);
    this.addSql(`create index "outbox_event_drop_id_index" on "outbox_event" ("drop_id");`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_dedupe_key_unique" unique ("dedupe_key");`);
    this.addSql(`create index "outbox_event_unpublished_idx" on "outbox_event" ("id") where seq is null;`);

    this.addSql(`create table "api_token" ("id" uuid not null, "name" varchar(100) not null, "token_hash" varchar(64) not null, "created_by_id" uuid not null, "created_at" timestamptz not null default now(), "last_used_at" timestamptz null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "api_token" add constraint "api_token_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "api_token_created_by_id_index" on "api_token" ("created_by_id");`);

    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed'));`);

    this.addSql(`alter table "api_token" add constraint "api_token_created_by_id_foreign" foreign key ("created_by_id") references "user" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox_event" cascade;`);
    this.addSql(`drop table if exists "api_token" cascade;`);
  }

}
