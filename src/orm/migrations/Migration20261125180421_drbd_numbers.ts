import { Migration } from '@mikro-orm/migrations';

export class Migration20261125180421_drbd_numbers extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "resource_definition" add column "drbd_secret" varchar(64) null;`);

    this.addSql(`alter table "resource" add column "drbd_node_id" int null, add column "drbd_port" int null;`);
    this.addSql(`alter table "resource" add constraint "resource_drbd_node_id_unique" unique ("resource_definition_id", "drbd_node_id");`);
    this.addSql(`alter table "resource" add constraint "resource_drbd_port_unique" unique ("node_id", "drbd_port");`);
    this.addSql(`alter table "resource" add constraint resource_drbd_node_id_range check(drbd_node_id is null or (drbd_node_id >= 0 and drbd_node_id <= 31));`);
    this.addSql(`alter table "resource" add constraint resource_drbd_port_range check(drbd_port is null or (drbd_port >= 1 and drbd_port <= 65535));`);

    this.addSql(`alter table "volume_definition" add column "drbd_minor" int null;`);
    this.addSql(`alter table "volume_definition" add constraint "volume_definition_drbd_minor_unique" unique ("drbd_minor");`);
    this.addSql(`alter table "volume_definition" add constraint volume_definition_drbd_minor_range check(drbd_minor is null or (drbd_minor >= 0 and drbd_minor <= 1048575));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "resource" drop constraint "resource_drbd_node_id_unique";`);
    this.addSql(`alter table "resource" drop constraint "resource_drbd_port_unique";`);
    this.addSql(`alter table "resource" drop constraint resource_drbd_node_id_range;`);
    this.addSql(`alter table "resource" drop constraint resource_drbd_port_range;`);
    this.addSql(`alter table "resource" drop column "drbd_node_id", drop column "drbd_port";`);

    this.addSql(`alter table "resource_definition" drop column "drbd_secret";`);

    this.addSql(`alter table "volume_definition" drop constraint "volume_definition_drbd_minor_unique";`);
    this.addSql(`alter table "volume_definition" drop constraint volume_definition_drbd_minor_range;`);
    this.addSql(`alter table "volume_definition" drop column "drbd_minor";`);
  }

}
