import { Migration } from '@mikro-orm/migrations';

/**
 * Objects that must always exist: the controller's property row and the default resource group DfltRscGrp
 * (LINSTOR creates both with a new database). Written by hand; the schema migrations are generated.
 */
export class Migration20261125164600_defaults extends Migration {
  override async up(): Promise<void> {
    this.addSql(`insert into "controller_config" ("id", "props", "updated_at") values (1, '{}', now()) on conflict do nothing;`);
    this.addSql(
      `insert into "resource_group" ("uuid", "created_at", "updated_at", "name", "description") ` +
        `values (gen_random_uuid(), now(), now(), 'DfltRscGrp', 'Default resource group') on conflict do nothing;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "resource_group" where "name_key" = 'DFLTRSCGRP';`);
    this.addSql(`delete from "controller_config" where "id" = 1;`);
  }
}
