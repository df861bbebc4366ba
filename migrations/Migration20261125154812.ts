import { Migration } from '@mikro-orm/migrations';

export class Migration20261125154812 extends Migration {

  override name = 'Migration20261125154812';

  override up(): void | Promise<void> {
    this.addSql(`create table "reservation" ("id" uuid not null, "drop_id" uuid not null, "user_id" uuid not null, "rank" int not null, "anon_id" varchar(16) not null, "priority_score" int not null, "score_breakdown" jsonb not null, "joined_at" timestamptz not null, "tie_break" varchar(64) not null, "status" text not null default 'WAITING', "granted_at" timestamptz null, "expires_at" timestamptz null, "ended_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "reservation_user_id_index" on "reservation" ("user_id");`);
    this.addSql(`create index "reservation_drop_status_rank_idx" on "reservation" ("drop_id", "status", "rank");`);
    this.addSql(`create index "reservation_status_expires_idx" on "reservation" ("status", "expires_at");`);
    this.addSql(`alter table "reservation" add constraint "reservation_drop_user_unique" unique ("drop_id", "user_id");`);
    this.addSql(`alter table "reservation" add constraint "reservation_drop_rank_unique" unique ("drop_id", "rank");`);

    this.addSql(`alter table "audit_log" drop constraint "audit_log_action_check";`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_action_check" check ("action" in ('drop.create', 'drop.update', 'drop.delete', 'window.open-now', 'window.close-now', 'window.extend', 'window.pause', 'window.resume', 'holds.extend', 'claim.redeem', 'api-token.create', 'api-token.revoke'));`);

    this.addSql(`alter table "drop" add "allocation_mode" text not null default 'FCFS', add "hold_seconds" int not null default 600, add "ranking_secret" varchar(64) null, add "ranking_frozen_at" timestamptz null;`);
    this.addSql(`alter table "drop" add constraint "drop_hold_seconds_check" check (hold_seconds > 0);`);
    this.addSql(`alter table "drop" add constraint "drop_allocation_mode_check" check ("allocation_mode" in ('FCFS', 'PRIORITY'));`);

    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed', 'claim.released', 'ranking.frozen', 'reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.passed', 'reservation.extended'));`);

    this.addSql(`alter table "reservation" add constraint "reservation_drop_id_foreign" foreign key ("drop_id") references "drop" ("id") on delete cascade;`);
    this.addSql(`alter table "reservation" add constraint "reservation_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "reservation" add constraint "reservation_rank_check" check (rank > 0);`);
    this.addSql(`alter table "reservation" add constraint "reservation_granted_check" check ((status = 'GRANTED') = (expires_at is not null and ended_at is null));`);
    this.addSql(`alter table "reservation" add constraint "reservation_status_check" check ("status" in ('WAITING', 'GRANTED', 'CLAIMED', 'EXPIRED', 'RELEASED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "reservation" cascade;`);

    this.addSql(`alter table "audit_log" drop constraint "audit_log_action_check";`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_action_check" check ("action" in ('drop.create', 'drop.update', 'drop.delete', 'window.open-now', 'window.close-now', 'window.extend', 'window.pause', 'window.resume', 'claim.redeem', 'api-token.create', 'api-token.revoke'));`);

    this.addSql(`alter table "drop" drop constraint "drop_hold_seconds_check";`);
    this.addSql(`alter table "drop" drop constraint "drop_allocation_mode_check";`);
    this.addSql(`alter table "drop" drop column "allocation_mode", drop column "hold_seconds", drop column "ranking_secret", drop column "ranking_frozen_at";`);

    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed', 'claim.released'));`);
  }

}
