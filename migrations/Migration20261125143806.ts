import { Migration } from '@mikro-orm/migrations';

export class Migration20261125143806 extends Migration {

  override name = 'Migration20261125143806';

  override up(): void | Promise<void> {
    this.addSql(`create table "audit_log" ("id" bigserial primary key, "at" timestamptz not null default now(), "actor_id" uuid null, "actor_email" varchar(254) null, "actor_ip" varchar(64) null, "action" text not null, "drop_id" uuid null, "target_id" uuid null, "details" jsonb not null);`);
    this.addSql(`create index "audit_log_at_index" on "audit_log" ("at");`);
    this.addSql(`create index "audit_log_actor_id_index" on "audit_log" ("actor_id");`);
    this.addSql(`create index "audit_log_drop_id_idx" on "audit_log" ("drop_id", "id");`);

    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed', 'claim.released'));`);

    this.addSql(`alter table "audit_log" add constraint "audit_log_action_check" check ("action" in ('drop.create', 'drop.update', 'drop.delete', 'window.open-now', 'window.close-now', 'window.extend', 'window.pause', 'window.resume', 'claim.redeem', 'api-token.create', 'api-token.revoke'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "audit_log" cascade;`);

    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('drop.created', 'drop.updated', 'drop.deleted', 'window.opened', 'window.closed', 'window.extended', 'window.paused', 'window.resumed', 'waitlist.joined', 'waitlist.left', 'claim.issued', 'claim.redeemed'));`);
  }

}
