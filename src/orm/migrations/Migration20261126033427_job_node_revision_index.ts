import { Migration } from '@mikro-orm/migrations';

export class Migration20261126033427_job_node_revision_index extends Migration {

  override async up(): Promise<void> {
    this.addSql(`drop index "placement_job_node_node_idx";`);

    this.addSql(`create index "placement_job_node_node_revision_idx" on "placement_job_node" ("node_id", "revision");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "placement_job_node_node_revision_idx";`);

    this.addSql(`create index "placement_job_node_node_idx" on "placement_job_node" ("node_id");`);
  }

}
