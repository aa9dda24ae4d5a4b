import { Migration } from '@mikro-orm/migrations';

export class Migration20261126005034_node_change_scope extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "node_change" add column "resource_definitions" integer[] null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "node_change" drop column "resource_definitions";`);
  }

}
