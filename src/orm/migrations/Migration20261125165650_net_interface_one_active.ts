import { Migration } from '@mikro-orm/migrations';

export class Migration20261125165650_net_interface_one_active extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create unique index "net_interface_one_active" on "net_interface" ("node_id") where "is_active";`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "net_interface_one_active";`);
  }

}
