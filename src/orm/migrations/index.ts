/** Migrations in order. Generated files are never edited after they land; add a new one instead. */
import { Migration20261125162907_initial } from './Migration20261125162907_initial.js';
import { Migration20261125163000_defaults } from './Migration20261125163000_defaults.js';

export const MIGRATIONS = [
  { name: 'Migration20261125162907_initial', class: Migration20261125162907_initial },
  { name: 'Migration20261125163000_defaults', class: Migration20261125163000_defaults },
];
