import { Migration } from '@mikro-orm/migrations';

export class Migration20261125123337 extends Migration {

  override name = 'Migration20261125123337';

  override up(): void | Promise<void> {
    this.addSql(`create table "drop" ("id" uuid not null, "title" varchar(200) not null, "description" text not null default '', "image_url" varchar(2048) null, "total_slots" int not null, "claimed" int not null default 0, "claim_window_start" timestamptz not null, "claim_window_end" timestamptz not null, "is_active" boolean not null default true, "paused_at" timestamptz null, "published_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`create index "drop_is_active_index" on "drop" ("is_active");`);
    this.addSql(`create index "drop_created_at_index" on "drop" ("created_at");`);
    this.addSql(`create index "drop_claim_window_idx" on "drop" ("claim_window_start", "claim_window_end");`);
    this.addSql(`alter table "drop" add constraint "drop_total_slots_check" check (total_slots > 0);`);
    this.addSql(`alter table "drop" add constraint "drop_claimed_check" check (claimed >= 0 and claimed <= total_slots);`);
    this.addSql(`alter table "drop" add constraint "drop_window_check" check (claim_window_start < claim_window_end);`);

    this.addSql(`create table "user" ("id" uuid not null, "email" varchar(254) not null, "password_hash" varchar(255) not null, "role" text not null default 'USER', "created_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`alter table "user" add constraint "user_email_unique" unique ("email");`);
    this.addSql(`alter table "user" add constraint "user_email_lowercase_check" check (email = lower(email));`);
    this.addSql(`alter table "user" add constraint "user_role_check" check ("role" in ('USER', 'ADMIN'));`);

    this.addSql(`create table "session" ("id" uuid not null, "user_id" uuid not null, "refresh_token_hash" varchar(64) not null, "family" uuid not null, "parent" uuid null, "user_agent" varchar(512) null, "created_at" timestamptz not null default now(), "expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_reason" varchar(32) null, primary key ("id"));`);
    this.addSql(`create index "session_user_id_index" on "session" ("user_id");`);
    this.addSql(`alter table "session" add constraint "session_refresh_token_hash_unique" unique ("refresh_token_hash");`);
    this.addSql(`create index "session_family_index" on "session" ("family");`);
    this.addSql(`create index "session_expires_at_index" on "session" ("expires_at");`);
    this.addSql(`create index "session_user_revoked_idx" on "session" ("user_id", "revoked_at");`);

    this.addSql(`create table "idempotency_key" ("id" bigserial primary key, "user_id" uuid not null, "key" varchar(200) not null, "fingerprint" varchar(64) not null, "state" text not null, "response_status" int null, "response_body" jsonb null, "created_at" timestamptz not null default now());`);
    this.addSql(`create index "idempotency_key_created_at_index" on "idempotency_key" ("created_at");`);
    this.addSql(`alter table "idempotency_key" add constraint "idempotency_key_user_key_unique" unique ("user_id", "key");`);
    this.addSql(`alter table "idempotency_key" add constraint "idempotency_key_state_check" check ("state" in ('IN_FLIGHT', 'DONE'));`);

    this.addSql(`create table "claim" ("id" uuid not null, "user_id" uuid not null, "drop_id" uuid not null, "code" varchar(14) not null, "status" text not null default 'ISSUED', "issued_at" timestamptz not null default now(), "used_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "claim_user_id_index" on "claim" ("user_id");`);
    this.addSql(`create index "claim_drop_id_index" on "claim" ("drop_id");`);
    this.addSql(`alter table "claim" add constraint "claim_code_unique" unique ("code");`);
    this.addSql(`create index "claim_status_index" on "claim" ("status");`);
    this.addSql(`create index "claim_issued_at_index" on "claim" ("issued_at");`);
    this.addSql(`alter table "claim" add constraint "claim_user_drop_unique" unique ("user_id", "drop_id");`);
    this.addSql(`alter table "claim" add constraint "claim_used_at_check" check ((status = 'USED') = (used_at is not null));`);
    this.addSql(`alter table "claim" add constraint "claim_status_check" check ("status" in ('ISSUED', 'USED'));`);

    this.addSql(`create table "user_action" ("id" bigserial primary key, "user_id" uuid not null, "kind" text not null, "at" timestamptz not null default now());`);
    this.addSql(`create index "user_action_user_at_idx" on "user_action" ("user_id", "at");`);
    this.addSql(`alter table "user_action" add constraint "user_action_kind_check" check ("kind" in ('join', 'leave', 'claim'));`);

    this.addSql(`create table "waitlist" ("id" uuid not null, "user_id" uuid not null, "drop_id" uuid not null, "priority_score" int not null, "score_breakdown" jsonb not null, "joined_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`create index "waitlist_user_id_index" on "waitlist" ("user_id");`);
    this.addSql(`create index "waitlist_rank_idx" on "waitlist" ("drop_id", "priority_score" DESC, "joined_at" ASC);`);
    this.addSql(`alter table "waitlist" add constraint "waitlist_user_drop_unique" unique ("user_id", "drop_id");`);

    this.addSql(`alter table "session" add constraint "session_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);

    this.addSql(`alter table "idempotency_key" add constraint "idempotency_key_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);

    this.addSql(`alter table "claim" add constraint "claim_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "claim" add constraint "claim_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on delete cascade;`);

    this.addSql(`alter table "user_action" add constraint "user_action_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);

    this.addSql(`alter table "waitlist" add constraint "waitlist_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "waitlist" add constraint "waitlist_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on delete cascade;`);
  }

}
