import { Migration } from '@mikro-orm/migrations';

export class Migration20261125164548_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "controller_config" ("id" serial primary key, "props" jsonb not null default '{}', "updated_at" timestamptz not null, constraint controller_config_singleton check (id = 1));`);

    this.addSql(`create table "node" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" varchar(253) not null, "name_key" varchar(253) generated always as (upper(name)) stored not null, "type" text check ("type" in ('CONTROLLER', 'SATELLITE', 'COMBINED', 'AUXILIARY')) not null, "connection_status" text check ("connection_status" in ('OFFLINE', 'CONNECTED', 'ONLINE', 'VERSION_MISMATCH', 'FULL_SYNC_FAILED', 'AUTHENTICATION_ERROR', 'UNKNOWN', 'HOSTNAME_MISMATCH', 'OTHER_CONTROLLER', 'AUTHENTICATED', 'NO_STLT_CONN', 'MISSING_EXT_TOOLS', 'DUPLICATE_UNAME')) not null default 'OFFLINE', "props" jsonb not null default '{}');`);
    this.addSql(`alter table "node" add constraint "node_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "node_props_gin" on "node" using gin ("props");`);
    this.addSql(`alter table "node" add constraint "node_name_key_unique" unique ("name_key");`);

    this.addSql(`create table "net_interface" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" varchar(253) not null, "name_key" varchar(253) generated always as (upper(name)) stored not null, "node_id" int not null, "address" varchar(64) not null, "satellite_port" int null, "encryption_type" text check ("encryption_type" in ('PLAIN', 'SSL')) not null default 'PLAIN', "is_active" boolean not null default false, constraint net_interface_port_range check (satellite_port is null or (satellite_port >= 1 and satellite_port <= 65535)));`);
    this.addSql(`alter table "net_interface" add constraint "net_interface_uuid_unique" unique ("uuid");`);
    this.addSql(`alter table "net_interface" add constraint "net_interface_node_name_key_unique" unique ("node_id", "name_key");`);

    this.addSql(`create table "resource_group" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" varchar(253) not null, "name_key" varchar(253) generated always as (upper(name)) stored not null, "description" text null, "props" jsonb not null default '{}', "place_count" int null, "storage_pool_list" text[] not null default '{}', "storage_pool_diskless_list" text[] not null default '{}', "do_not_place_with_rsc" text[] not null default '{}', "do_not_place_with_rsc_regex" text null, "replicas_on_same" text[] not null default '{}', "replicas_on_different" text[] not null default '{}', "x_replicas_on_different" jsonb not null default '{}', "diskless_on_remaining" boolean null, "provider_list" text[] not null default '{}', "node_name_list" text[] not null default '{}', "layer_stack" text[] not null default '{}', "peer_slots" int null, constraint resource_group_place_count_range check (place_count is null or (place_count >= 1 and place_count <= 32)), constraint resource_group_peer_slots_range check (peer_slots is null or (peer_slots >= 1 and peer_slots <= 31)));`);
    this.addSql(`alter table "resource_group" add constraint "resource_group_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "resource_group_props_gin" on "resource_group" using gin ("props");`);
    this.addSql(`alter table "resource_group" add constraint "resource_group_name_key_unique" unique ("name_key");`);

    this.addSql(`create table "resource_definition" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" varchar(253) not null, "name_key" varchar(253) generated always as (upper(name)) stored not null, "external_name" varchar(1024) null, "resource_group_id" int not null, "props" jsonb not null default '{}', "flags" text[] not null default '{}', "layer_stack" text[] not null default '{}');`);
    this.addSql(`alter table "resource_definition" add constraint "resource_definition_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "resource_definition_props_gin" on "resource_definition" using gin ("props");`);
    this.addSql(`create index "resource_definition_resource_group_idx" on "resource_definition" ("resource_group_id");`);
    this.addSql(`alter table "resource_definition" add constraint "resource_definition_name_key_unique" unique ("name_key");`);

    this.addSql(`create table "resource" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "resource_definition_id" int not null, "node_id" int not null, "props" jsonb not null default '{}', "flags" text[] not null default '{}');`);
    this.addSql(`alter table "resource" add constraint "resource_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "resource_props_gin" on "resource" using gin ("props");`);
    this.addSql(`create index "resource_node_idx" on "resource" ("node_id");`);
    this.addSql(`alter table "resource" add constraint "resource_definition_node_unique" unique ("resource_definition_id", "node_id");`);

    this.addSql(`create table "storage_pool" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" varchar(253) not null, "name_key" varchar(253) generated always as (upper(name)) stored not null, "node_id" int not null, "provider_kind" text check ("provider_kind" in ('DISKLESS', 'LVM', 'LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE', 'FILE_THIN')) not null, "props" jsonb not null default '{}', "total_capacity_kib" bigint null, "free_capacity_kib" bigint null, "capacity_reported_at" timestamptz null, constraint storage_pool_capacity_non_negative check ((total_capacity_kib is null or total_capacity_kib >= 0) and (free_capacity_kib is null or free_capacity_kib >= 0)));`);
    this.addSql(`alter table "storage_pool" add constraint "storage_pool_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "storage_pool_props_gin" on "storage_pool" using gin ("props");`);
    this.addSql(`alter table "storage_pool" add constraint "storage_pool_node_name_key_unique" unique ("node_id", "name_key");`);

    this.addSql(`create table "volume_definition" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "resource_definition_id" int not null, "volume_number" int not null, "size_kib" bigint not null, "props" jsonb not null default '{}', "flags" text[] not null default '{}', constraint volume_definition_number_range check (volume_number >= 0 and volume_number <= 65534), constraint volume_definition_size_positive check (size_kib > 0));`);
    this.addSql(`alter table "volume_definition" add constraint "volume_definition_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "volume_definition_props_gin" on "volume_definition" using gin ("props");`);
    this.addSql(`alter table "volume_definition" add constraint "volume_definition_number_unique" unique ("resource_definition_id", "volume_number");`);

    this.addSql(`create table "volume" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "resource_id" int not null, "volume_definition_id" int not null, "storage_pool_id" int not null, "props" jsonb not null default '{}', "flags" text[] not null default '{}', "allocated_size_kib" bigint null, "usable_size_kib" bigint null, "device_path" varchar(1024) null);`);
    this.addSql(`alter table "volume" add constraint "volume_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "volume_props_gin" on "volume" using gin ("props");`);
    this.addSql(`create index "volume_storage_pool_idx" on "volume" ("storage_pool_id");`);
    this.addSql(`create index "volume_volume_definition_idx" on "volume" ("volume_definition_id");`);
    this.addSql(`alter table "volume" add constraint "volume_resource_definition_unique" unique ("resource_id", "volume_definition_id");`);

    this.addSql(`create table "volume_group" ("id" serial primary key, "uuid" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "resource_group_id" int not null, "volume_number" int not null, "props" jsonb not null default '{}', "flags" text[] not null default '{}', constraint volume_group_number_range check (volume_number >= 0 and volume_number <= 65534));`);
    this.addSql(`alter table "volume_group" add constraint "volume_group_uuid_unique" unique ("uuid");`);
    this.addSql(`create index "volume_group_props_gin" on "volume_group" using gin ("props");`);
    this.addSql(`alter table "volume_group" add constraint "volume_group_number_unique" unique ("resource_group_id", "volume_number");`);

    this.addSql(`alter table "net_interface" add constraint "net_interface_node_id_foreign" foreign key ("node_id") references "node" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "resource_definition" add constraint "resource_definition_resource_group_id_foreign" foreign key ("resource_group_id") references "resource_group" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "resource" add constraint "resource_resource_definition_id_foreign" foreign key ("resource_definition_id") references "resource_definition" ("id") on update cascade on delete no action;`);
    this.addSql(`alter table "resource" add constraint "resource_node_id_foreign" foreign key ("node_id") references "node" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "storage_pool" add constraint "storage_pool_node_id_foreign" foreign key ("node_id") references "node" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "volume_definition" add constraint "volume_definition_resource_definition_id_foreign" foreign key ("resource_definition_id") references "resource_definition" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "volume" add constraint "volume_resource_id_foreign" foreign key ("resource_id") references "resource" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "volume" add constraint "volume_volume_definition_id_foreign" foreign key ("volume_definition_id") references "volume_definition" ("id") on update cascade on delete no action;`);
    this.addSql(`alter table "volume" add constraint "volume_storage_pool_id_foreign" foreign key ("storage_pool_id") references "storage_pool" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "volume_group" add constraint "volume_group_resource_group_id_foreign" foreign key ("resource_group_id") references "resource_group" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "net_interface" drop constraint "net_interface_node_id_foreign";`);

    this.addSql(`alter table "resource" drop constraint "resource_node_id_foreign";`);

    this.addSql(`alter table "storage_pool" drop constraint "storage_pool_node_id_foreign";`);

    this.addSql(`alter table "resource_definition" drop constraint "resource_definition_resource_group_id_foreign";`);

    this.addSql(`alter table "volume_group" drop constraint "volume_group_resource_group_id_foreign";`);

    this.addSql(`alter table "resource" drop constraint "resource_resource_definition_id_foreign";`);

    this.addSql(`alter table "volume_definition" drop constraint "volume_definition_resource_definition_id_foreign";`);

    this.addSql(`alter table "volume" drop constraint "volume_resource_id_foreign";`);

    this.addSql(`alter table "volume" drop constraint "volume_storage_pool_id_foreign";`);

    this.addSql(`alter table "volume" drop constraint "volume_volume_definition_id_foreign";`);

    this.addSql(`drop table if exists "controller_config" cascade;`);

    this.addSql(`drop table if exists "node" cascade;`);

    this.addSql(`drop table if exists "net_interface" cascade;`);

    this.addSql(`drop table if exists "resource_group" cascade;`);

    this.addSql(`drop table if exists "resource_definition" cascade;`);

    this.addSql(`drop table if exists "resource" cascade;`);

    this.addSql(`drop table if exists "storage_pool" cascade;`);

    this.addSql(`drop table if exists "volume_definition" cascade;`);

    this.addSql(`drop table if exists "volume" cascade;`);

    this.addSql(`drop table if exists "volume_group" cascade;`);
  }

}
