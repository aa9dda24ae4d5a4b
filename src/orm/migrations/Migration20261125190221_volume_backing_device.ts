import { Migration } from '@mikro-orm/migrations';

export class Migration20261125190221_volume_backing_device extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "volume" add column "backing_device_path" varchar(1024) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "volume" drop column "backing_device_path";`);
  }

}
