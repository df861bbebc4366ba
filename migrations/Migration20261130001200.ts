import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 15 items 1 and 2: notifications (one row per user, drop, kind and channel), each user's
 * preferences, Web Push subscriptions, and the planner's cursor over the published events. The
 * cursor starts at the end of the existing history: events from before notifications existed
 * are not announced now.
 */
export class Migration20261130001200 extends Migration {

  override name = 'Migration20261130001200';

  override up(): void | Promise<void> {
    this.addSql(`create table "notification_cursor" ("id" int not null, "last_seq" bigint not null, primary key ("id"));`);
    this.addSql(`insert into "notification_cursor" ("id", "last_seq") select 1, coalesce(max("seq"), 0) from "outbox_event";`);

    this.addSql(`create table "push_subscription" ("id" uuid not null, "user_id" uuid not null, "endpoint" varchar(2048) not null, "p256dh" varchar(100) not null, "auth" varchar(40) not null, "created_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`create index "push_subscription_user_id_index" on "push_subscription" ("user_id");`);
    this.addSql(`alter table "push_subscription" add constraint "push_subscription_endpoint_unique" unique ("endpoint");`);

    this.addSql(`create table "notification_preference" ("user_id" uuid not null, "kind" text not null, "channel" text not null, "enabled" boolean not null, "updated_at" timestamptz not null default now(), primary key ("user_id", "kind", "channel"));`);

    this.addSql(`create table "notification" ("id" uuid not null, "user_id" uuid not null, "drop_id" uuid not null, "kind" text not null, "channel" text not null, "state" text not null default 'PENDING', "detail" jsonb null, "delivered_to" jsonb not null default '[]', "reason" varchar(40) null, "created_at" timestamptz not null default now(), "sent_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "notification_user_id_index" on "notification" ("user_id");`);
    this.addSql(`create index "notification_drop_id_index" on "notification" ("drop_id");`);
    this.addSql(`alter table "notification" add constraint "notification_user_drop_kind_channel_unique" unique ("user_id", "drop_id", "kind", "channel");`);

    this.addSql(`alter table "push_subscription" add constraint "push_subscription_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);

    this.addSql(`alter table "notification_preference" add constraint "notification_preference_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "notification_preference" add constraint "notification_preference_kind_check" check ("kind" in ('window-opens-soon', 'window-opened', 'reservation-granted', 'reservation-expiring', 'claim-confirmed', 'draw-result'));`);
    this.addSql(`alter table "notification_preference" add constraint "notification_preference_channel_check" check ("channel" in ('email', 'push'));`);

    this.addSql(`alter table "notification" add constraint "notification_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "notification" add constraint "notification_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on delete cascade;`);
    this.addSql(`alter table "notification" add constraint "notification_kind_check" check ("kind" in ('window-opens-soon', 'window-opened', 'reservation-granted', 'reservation-expiring', 'claim-confirmed', 'draw-result'));`);
    this.addSql(`alter table "notification" add constraint "notification_channel_check" check ("channel" in ('email', 'push'));`);
    this.addSql(`alter table "notification" add constraint "notification_state_check" check ("state" in ('PENDING', 'SENT', 'SKIPPED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "notification_cursor" cascade;`);
    this.addSql(`drop table if exists "push_subscription" cascade;`);
    this.addSql(`drop table if exists "notification_preference" cascade;`);
    this.addSql(`drop table if exists "notification" cascade;`);
  }

}
