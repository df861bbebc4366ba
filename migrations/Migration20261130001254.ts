import { Migration } from '@mikro-orm/migrations';

/** Issue 16 item 3: webhook endpoints and their deliveries, and the audit log's webhook actions. */
export class Migration20261130001254 extends Migration {

  override name = 'Migration20261130001254';

  override up(): void | Promise<void> {
    this.addSql(`create table "webhook_endpoint" ("id" uuid not null, "url" varchar(2048) not null, "description" varchar(200) not null default '', "event_types" text[] not null, "secret" varchar(100) not null, "enabled" boolean not null default true, "last_seq" bigint not null default '0', "lease_owner" varchar(64) null, "leased_until" timestamptz null, "created_by" uuid null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("id"));`);

    this.addSql(`create table "webhook_delivery" ("id" uuid not null, "endpoint_id" uuid not null, "event_seq" bigint not null, "event_type" varchar(64) not null, "status" text not null default 'PENDING', "attempts" int not null default 0, "next_attempt_at" timestamptz null, "first_attempt_at" timestamptz null, "last_attempt_at" timestamptz null, "last_status" int null, "last_error" varchar(300) null, "last_response" varchar(500) null, "delivered_at" timestamptz null, "created_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`create index "webhook_delivery_pending_idx" on "webhook_delivery" ("endpoint_id", "event_seq") where status = 'PENDING';`);
    this.addSql(`create index "webhook_delivery_pending_seq_idx" on "webhook_delivery" ("event_seq") where status = 'PENDING';`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_endpoint_seq_unique" unique ("endpoint_id", "event_seq");`);

    this.addSql(`alter table "audit_log" drop constraint "audit_log_action_check";`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_action_check" check ("action" in ('drop.create', 'drop.update', 'drop.delete', 'window.open-now', 'window.close-now', 'window.extend', 'window.pause', 'window.resume', 'holds.extend', 'claim.redeem', 'api-token.create', 'api-token.revoke', 'webhook.create', 'webhook.update', 'webhook.delete', 'webhook.redeliver'));`);

    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoint" ("id") on delete cascade;`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_status_check" check ("status" in ('PENDING', 'DELIVERED', 'FAILED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "webhook_delivery" drop constraint "webhook_delivery_endpoint_id_foreign";`);

    this.addSql(`drop table if exists "webhook_endpoint" cascade;`);
    this.addSql(`drop table if exists "webhook_delivery" cascade;`);

    this.addSql(`alter table "audit_log" drop constraint "audit_log_action_check";`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_action_check" check ("action" in ('drop.create', 'drop.update', 'drop.delete', 'window.open-now', 'window.close-now', 'window.extend', 'window.pause', 'window.resume', 'holds.extend', 'claim.redeem', 'api-token.create', 'api-token.revoke'));`);
  }

}
