/** Migrations in order. Generated files are never edited after they land; add a new one instead. */
import { Migration20261125164548_initial } from './Migration20261125164548_initial.js';
import { Migration20261125164600_defaults } from './Migration20261125164600_defaults.js';
import { Migration20261125165650_net_interface_one_active } from './Migration20261125165650_net_interface_one_active.js';
import { Migration20261125171628_satellite_state } from './Migration20261125171628_satellite_state.js';
import { Migration20261125180421_drbd_numbers } from './Migration20261125180421_drbd_numbers.js';
import { Migration20261125181155_placement_jobs } from './Migration20261125181155_placement_jobs.js';
import { Migration20261125190221_volume_backing_device } from './Migration20261125190221_volume_backing_device.js';
import { Migration20261126005034_node_change_scope } from './Migration20261126005034_node_change_scope.js';
import { Migration20261126033427_job_node_revision_index } from './Migration20261126033427_job_node_revision_index.js';
import { Migration20261126034428_pool_usage } from './Migration20261126034428_pool_usage.js';

export const MIGRATIONS = [
  { name: 'Migration20261125164548_initial', class: Migration20261125164548_initial },
  { name: 'Migration20261125164600_defaults', class: Migration20261125164600_defaults },
  { name: 'Migration20261125165650_net_interface_one_active', class: Migration20261125165650_net_interface_one_active },
  { name: 'Migration20261125171628_satellite_state', class: Migration20261125171628_satellite_state },
  { name: 'Migration20261125180421_drbd_numbers', class: Migration20261125180421_drbd_numbers },
  { name: 'Migration20261125181155_placement_jobs', class: Migration20261125181155_placement_jobs },
  { name: 'Migration20261125190221_volume_backing_device', class: Migration20261125190221_volume_backing_device },
  { name: 'Migration20261126005034_node_change_scope', class: Migration20261126005034_node_change_scope },
  { name: 'Migration20261126033427_job_node_revision_index', class: Migration20261126033427_job_node_revision_index },
  { name: 'Migration20261126034428_pool_usage', class: Migration20261126034428_pool_usage },
];
