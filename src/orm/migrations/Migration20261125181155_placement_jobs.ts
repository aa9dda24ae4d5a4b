import { Migration } from '@mikro-orm/migrations';

export class Migration20261125181155_placement_jobs extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "placement_job" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "kind" text check ("kind" in ('SPAWN', 'AUTOPLACE', 'CREATE', 'DELETE', 'GROW')) not null, "state" text check ("state" in ('QUEUED', 'PLACED', 'REALIZING', 'DONE', 'FAILED')) not null, "resource_definition" varchar(253) not null, "reason" text null, "finished_at" timestamptz null);`);
    this.addSql(`alter table "placement_job" add constraint "placement_job_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "placement_job_state_idx" on "placement_job" ("state");`);
    this.addSql(`create index "placement_job_definition_idx" on "placement_job" ("resource_definition");`);

    this.addSql(`create table "placement_job_node" ("job_id" int not null, "node_id" int not null, "revision" bigint not null, constraint "placement_job_node_pkey" primary key ("job_id", "node_id"));`);
    this.addSql(`create index "placement_job_node_node_idx" on "placement_job_node" ("node_id");`);

    this.addSql(`alter table "placement_job_node" add constraint "placement_job_node_job_id_foreign" foreign key ("job_id") references "placement_job" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "placement_job_node" add constraint "placement_job_node_node_id_foreign" foreign key ("node_id") references "node" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "placement_job_node" drop constraint "placement_job_node_job_id_foreign";`);

    this.addSql(`drop table if exists "placement_job" cascade;`);

    this.addSql(`drop table if exists "placement_job_node" cascade;`);
  }

}
