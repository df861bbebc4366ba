import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 15 item 4, the shuffled FCFS opening: the drop's interval (1–60 s, FCFS only), when its
 * claims were served and how many slots were free then, the collected claims (`opening_entry`),
 * and the `opening.shuffled` event.
 */
export class Migration20261130001000 extends Migration {

  override name = 'Migration20261130001000';

  override up(): void | Promise<void> {
    this.addSql(`create table "opening_entry" ("id" uuid not null, "drop_id" uuid not null, "user_id" uuid not null, "anon_id" varchar(16) not null, "draw_key" varchar(64) not null, "arrived_at" timestamptz not null, "rank" int null, "outcome" text null, primary key ("id"));`);
    this.addSql(`create index "opening_entry_user_id_index" on "opening_entry" ("user_id");`);
    this.addSql(`create index "opening_entry_drop_draw_key_idx" on "opening_entry" ("drop_id", "draw_key");`);
    this.addSql(`alter table "opening_entry" add constraint "opening_entry_drop_user_unique" unique ("drop_id", "user_id");`);
    this.addSql(`alter table "opening_entry" add constraint "opening_entry_outcome_check" check ("outcome" in ('CLAIMED', 'SOLD_OUT', 'LEFT'));`);
    this.addSql(`alter table "opening_entry" add constraint "opening_entry_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on delete cascade;`);
    this.addSql(`alter table "opening_entry" add constraint "opening_entry_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);

    this.addSql(`alter table "drop" add "opening_shuffle_seconds" int null, add "opening_settled_at" timestamptz null, add "opening_slots" int null;`);
    this.addSql(`alter table "drop" add constraint "drop_opening_shuffle_seconds_check" check (opening_shuffle_seconds is null or (opening_shuffle_seconds between 1 and 60 and allocation_mode = 'FCFS'));`);

    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed', 'claim.released', 'ranking.frozen', 'reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.passed', 'reservation.extended', 'opening.shuffled'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`delete from "outbox_event" where "type" = 'opening.shuffled';`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed', 'claim.released', 'ranking.frozen', 'reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.passed', 'reservation.extended'));`);
    this.addSql(`alter table "drop" drop constraint "drop_opening_shuffle_seconds_check";`);
    this.addSql(`alter table "drop" drop column "opening_shuffle_seconds", drop column "opening_settled_at", drop column "opening_slots";`);
    this.addSql(`drop table if exists "opening_entry" cascade;`);
  }

}
