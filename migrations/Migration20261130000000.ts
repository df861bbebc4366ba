import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 15 item 3: the calendar file's SEQUENCE. `window_sequence` counts the moves of a drop's
 * window; a trigger bumps it whenever an update changes the start or the end, so every path that
 * moves a window (the edit form, open-now, close-now, extend, raw SQL) counts alike.
 */
export class Migration20261130000000 extends Migration {

  override name = 'Migration20261130000000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "drop" add column "window_sequence" int not null default 0;`);
    this.addSql(`create or replace function "drop_window_sequence_fn"() returns trigger as $$ begin if new.claim_window_start is distinct from old.claim_window_start or new.claim_window_end is distinct from old.claim_window_end then new.window_sequence := old.window_sequence + 1; else new.window_sequence := old.window_sequence; end if; return new; end; $$ language plpgsql;`);
    this.addSql(`create trigger "window_sequence" BEFORE UPDATE on "drop" for each ROW execute function "drop_window_sequence_fn"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "window_sequence" on "drop";`);
    this.addSql(`drop function if exists "drop_window_sequence_fn"();`);
    this.addSql(`alter table "drop" drop column "window_sequence";`);
  }

}
