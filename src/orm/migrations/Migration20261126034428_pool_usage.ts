import { Migration } from '@mikro-orm/migrations';

/*
 * storage_pool_usage and volume.reserved_kib, kept true by triggers to what they summarize:
 *   a volume's reserved_kib = its definition's size_kib, or null while its resource is flagged DELETE;
 *   a pool's usage = sum(reserved_kib) and count(distinct resource_id) over its volumes with reserved_kib not null,
 * the numbers the autoplacer used to aggregate from every volume of the cluster per placement. Usage is kept as rows
 * of differences (one per pool per statement) so that concurrent writers never lock each other out or deadlock on a
 * pool's row; a placement folds them from time to time (compactPoolUsage).
 */

/** The difference statement: `o` and `n` are the rows before and after (transition tables, or an empty set). */
function applyDifference(oldRows: string, newRows: string): string {
  return `
  with o as (${oldRows}), n as (${newRows}),
  -- Rows whose pool, resource or reserved size changed: an update of anything else (a state, a device path) counts
  -- for nothing and adds no row.
  moved as (
    select o.id from o left join n on n.id = o.id
     where n.id is null or o.reserved_kib is distinct from n.reserved_kib or o.storage_pool_id <> n.storage_pool_id or o.resource_id <> n.resource_id
    union
    select n.id from n left join o on o.id = n.id
     where o.id is null or o.reserved_kib is distinct from n.reserved_kib or o.storage_pool_id <> n.storage_pool_id or o.resource_id <> n.resource_id
  ),
  mo as (select * from o where o.reserved_kib is not null and o.id in (select id from moved)),
  mn as (select * from n where n.reserved_kib is not null and n.id in (select id from moved)),
  kib as (
    select pool, sum(k) as k from (
      select storage_pool_id as pool, -reserved_kib as k from mo union all select storage_pool_id, reserved_kib from mn
    ) x group by pool
  ),
  -- A resource counts once per pool: it starts counting with its first counted volume there, stops with its last.
  pairs as (select storage_pool_id as pool, resource_id as res from mo union select storage_pool_id, resource_id from mn),
  res as (
    select p.pool, sum(
        coalesce((select 1 from volume v where v.resource_id = p.res and v.storage_pool_id = p.pool and v.reserved_kib is not null limit 1), 0)
      - greatest(
          coalesce((select 1 from mo where mo.resource_id = p.res and mo.storage_pool_id = p.pool limit 1), 0),
          coalesce((select 1 from volume v where v.resource_id = p.res and v.storage_pool_id = p.pool and v.reserved_kib is not null
                      and v.id not in (select id from moved) limit 1), 0))
    ) as d
    from pairs p group by p.pool
  ),
  diff as (select coalesce(kib.pool, res.pool) as pool, coalesce(kib.k, 0) as k, coalesce(res.d, 0) as d from kib full join res on res.pool = kib.pool)
  insert into storage_pool_usage (pool_id, reserved_kib, resources)
  select pool, k, d from diff where (k <> 0 or d <> 0) and exists (select 1 from storage_pool sp where sp.id = diff.pool)`;
}

const NO_ROWS = 'select null::int as id, null::int as resource_id, null::int as storage_pool_id, null::bigint as reserved_kib where false';
const rowsOf = (table: string) => `select id, resource_id, storage_pool_id, reserved_kib from ${table}`;

const POOL_USAGE_UP: string[] = [
  // A volume's reserved size as it is written.
  `create function blockplane_volume_reserved() returns trigger language plpgsql as $$
   begin
     select case when 'DELETE' = any(r.flags) then null else vd.size_kib end into new.reserved_kib
       from resource r, volume_definition vd where r.id = new.resource_id and vd.id = new.volume_definition_id;
     return new;
   end $$;`,
  `create trigger volume_reserved before insert or update of resource_id, volume_definition_id on volume
     for each row execute function blockplane_volume_reserved();`,
  // A resize changes what the definition's counted volumes hold.
  `create function blockplane_volume_definition_resized() returns trigger language plpgsql as $$
   begin
     update volume set reserved_kib = new.size_kib where volume_definition_id = new.id and reserved_kib is not null;
     return null;
   end $$;`,
  `create trigger volume_definition_resized after update of size_kib on volume_definition
     for each row when (old.size_kib is distinct from new.size_kib) execute function blockplane_volume_definition_resized();`,
  // A resource flagged DELETE stops counting (the autoplacer may place on the space it is about to free).
  `create function blockplane_resource_deleting() returns trigger language plpgsql as $$
   begin
     if coalesce('DELETE' = any(new.flags), false) then
       update volume set reserved_kib = null where resource_id = new.id and reserved_kib is not null;
     else
       update volume v set reserved_kib = vd.size_kib from volume_definition vd
        where v.resource_id = new.id and vd.id = v.volume_definition_id and v.reserved_kib is null;
     end if;
     return null;
   end $$;`,
  `create trigger resource_deleting after update of flags on resource
     for each row when (coalesce('DELETE' = any(old.flags), false) is distinct from coalesce('DELETE' = any(new.flags), false))
     execute function blockplane_resource_deleting();`,
  // The differences, once per statement (a spawn batch inserts hundreds of volumes in one). The lookups of a pair's
  // other volumes are scalar subqueries (run per pair, never turned into a hash of the whole table) and sequential
  // scans are off: a plan cached while the volume table was small (a fresh cluster growing fast) hashed every volume
  // per statement otherwise (measured: 30 ms per spawn at 5,000 replicas).

  `create function blockplane_pool_usage_insert() returns trigger language plpgsql set enable_seqscan = off as $$
   begin ${applyDifference(NO_ROWS, rowsOf('new_rows'))}; return null; end $$;`,
  `create function blockplane_pool_usage_update() returns trigger language plpgsql set enable_seqscan = off as $$
   begin ${applyDifference(rowsOf('old_rows'), rowsOf('new_rows'))}; return null; end $$;`,
  `create function blockplane_pool_usage_delete() returns trigger language plpgsql set enable_seqscan = off as $$
   begin ${applyDifference(rowsOf('old_rows'), NO_ROWS)}; return null; end $$;`,
  `create trigger pool_usage_insert after insert on volume referencing new table as new_rows
     for each statement execute function blockplane_pool_usage_insert();`,
  `create trigger pool_usage_update after update on volume referencing old table as old_rows new table as new_rows
     for each statement execute function blockplane_pool_usage_update();`,
  `create trigger pool_usage_delete after delete on volume referencing old table as old_rows
     for each statement execute function blockplane_pool_usage_delete();`,
];

/** Fills volume.reserved_kib and storage_pool_usage from what is there (before the triggers exist). */
const POOL_USAGE_BACKFILL: string[] = [
  `update volume v set reserved_kib = case when 'DELETE' = any(r.flags) then null else vd.size_kib end
     from resource r, volume_definition vd where r.id = v.resource_id and vd.id = v.volume_definition_id;`,
  `insert into storage_pool_usage (pool_id, reserved_kib, resources)
   select storage_pool_id, sum(reserved_kib), count(distinct resource_id) from volume where reserved_kib is not null group by storage_pool_id;`,
];

const POOL_USAGE_DOWN: string[] = [
  'drop trigger if exists pool_usage_delete on volume;',
  'drop trigger if exists pool_usage_update on volume;',
  'drop trigger if exists pool_usage_insert on volume;',
  'drop trigger if exists resource_deleting on resource;',
  'drop trigger if exists volume_definition_resized on volume_definition;',
  'drop trigger if exists volume_reserved on volume;',
  'drop function if exists blockplane_pool_usage_delete();',
  'drop function if exists blockplane_pool_usage_update();',
  'drop function if exists blockplane_pool_usage_insert();',
  'drop function if exists blockplane_resource_deleting();',
  'drop function if exists blockplane_volume_definition_resized();',
  'drop function if exists blockplane_volume_reserved();',
];

export class Migration20261126034428_pool_usage extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "storage_pool_usage" ("id" bigserial primary key, "pool_id" int not null, "reserved_kib" bigint not null, "resources" int not null);`);
    this.addSql(`create index "storage_pool_usage_pool_idx" on "storage_pool_usage" ("pool_id");`);

    this.addSql(`alter table "storage_pool_usage" add constraint "storage_pool_usage_pool_id_foreign" foreign key ("pool_id") references "storage_pool" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "volume" add column "reserved_kib" bigint null;`);

    for (const sql of POOL_USAGE_BACKFILL) this.addSql(sql);
    for (const sql of POOL_USAGE_UP) this.addSql(sql);
  }

  override async down(): Promise<void> {
    for (const sql of POOL_USAGE_DOWN) this.addSql(sql);
    this.addSql(`drop table if exists "storage_pool_usage" cascade;`);

    this.addSql(`alter table "volume" drop column "reserved_kib";`);
  }

}
