import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A fixture file in test/fixtures/commands/. */
export function fixture(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../../../../fixtures/commands/${name}`, import.meta.url)), 'utf8');
}

/** `zfs list -H` lines: columns joined by one tab, one dataset per line, as zfs-list(8) documents. */
export function zfsLines(...rows: (readonly (string | bigint)[])[]): string {
  return rows.map((row) => `${row.join('\t')}\n`).join('');
}
