import { Migration } from '@mikro-orm/migrations';

export class Migration20261129203352 extends Migration {

  override name = 'Migration20261129203352';

  override up(): void | Promise<void> {
    this.addSql(`create table "mail_message" ("id" uuid not null, "purpose" varchar(200) not null, "recipient" varchar(254) not null, "subject" varchar(200) not null, "text" text null, "html" text null, "transport" text not null, "sent_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`alter table "mail_message" add constraint "mail_message_purpose_unique" unique ("purpose");`);
    this.addSql(`create index "mail_message_sent_at_index" on "mail_message" ("sent_at");`);

    this.addSql(`create table "email_token" ("id" uuid not null, "user_id" uuid not null, "purpose" text not null, "token_hash" varchar(64) not null, "email" varchar(254) not null, "created_at" timestamptz not null default now(), "expires_at" timestamptz not null, "used_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "email_token_user_id_index" on "email_token" ("user_id");`);
    this.addSql(`alter table "email_token" add constraint "email_token_token_hash_unique" unique ("token_hash");`);

    this.addSql(`alter table "user" add "email_canonical" varchar(254) null, add "email_verified_at" timestamptz null;`);
    // Existing accounts get the canonical form server/src/modules/users/email-address.ts computes
    // (their addresses are lower-case ASCII already). Where several accounts already share one
    // mailbox, the oldest keeps it and the others stay null rather than the migration failing.
    this.addSql(`update "user" u set email_canonical = c.canonical
      from (select id, canonical, row_number() over (partition by canonical order by created_at, id) as n
              from (select id, created_at,
                           case when domain in ('gmail.com', 'googlemail.com') then replace(local, '.', '') || '@gmail.com'
                                else local || '@' || domain end as canonical,
                           local
                      from (select id, created_at, split_part(split_part(email, '@', 1), '+', 1) as local, split_part(email, '@', 2) as domain
                              from "user") parts) forms
             where replace(local, '.', '') <> '') c
     where u.id = c.id and c.n = 1;`);
    this.addSql(`alter table "user" add constraint "user_email_canonical_unique" unique ("email_canonical");`);

    this.addSql(`alter table "mail_message" add constraint "mail_message_transport_check" check ("transport" in ('smtp', 'mailbox'));`);

    this.addSql(`alter table "email_token" add constraint "email_token_user_id_foreign" foreign key ("user_id") references "user" ("id") on delete cascade;`);
    this.addSql(`alter table "email_token" add constraint "email_token_purpose_check" check ("purpose" in ('VERIFY_EMAIL', 'RESET_PASSWORD'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "mail_message" cascade;`);
    this.addSql(`drop table if exists "email_token" cascade;`);

    this.addSql(`alter table "user" drop constraint "user_email_canonical_unique";`);
    this.addSql(`alter table "user" drop column "email_canonical", drop column "email_verified_at";`);
  }

}
