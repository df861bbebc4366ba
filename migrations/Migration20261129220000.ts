import { Migration } from '@mikro-orm/migrations';

/** Issue 15 item 4: the DRAW allocation mode joins FCFS and PRIORITY. */
export class Migration20261129220000 extends Migration {

  override name = 'Migration20261129220000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "drop" drop constraint if exists "drop_allocation_mode_check";`);
    this.addSql(`alter table "drop" add constraint "drop_allocation_mode_check" check ("allocation_mode" in ('FCFS', 'PRIORITY', 'DRAW'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "drop" drop constraint if exists "drop_allocation_mode_check";`);
    this.addSql(`alter table "drop" add constraint "drop_allocation_mode_check" check ("allocation_mode" in ('FCFS', 'PRIORITY'));`);
  }

}
