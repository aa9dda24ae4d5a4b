import { Migration } from '@mikro-orm/migrations';

export class Migration20261125171628_satellite_state extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "node_change" ("id" bigserial primary key, "node_id" int not null, "reason" varchar(200) not null, "created_at" timestamptz not null);`);
    this.addSql(`create index "node_change_node_id_idx" on "node_change" ("node_id", "id");`);

    this.addSql(`alter table "node_change" add constraint "node_change_node_id_foreign" foreign key ("node_id") references "node" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "node" add column "satellite_secret_hash" varchar(80) null, add column "satellite_hostname" varchar(253) null, add column "applied_revision" bigint not null default 0, add column "last_seen_at" timestamptz null, add column "last_error" text null;`);

    this.addSql(`alter table "storage_pool" add column "last_error" text null;`);

    this.addSql(`alter table "volume" add column "state" text check ("state" in ('PENDING', 'CREATING', 'CREATED', 'RESIZING', 'FAILED', 'DELETING')) not null default 'PENDING', add column "last_error" text null, add column "state_changed_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "node_change" cascade;`);

    this.addSql(`alter table "node" drop column "satellite_secret_hash", drop column "satellite_hostname", drop column "applied_revision", drop column "last_seen_at", drop column "last_error";`);

    this.addSql(`alter table "storage_pool" drop column "last_error";`);

    this.addSql(`alter table "volume" drop column "state", drop column "last_error", drop column "state_changed_at";`);
  }

}
