import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/commands/, where captured (and clearly labelled hand-assembled) tool output lives. */
const FIXTURES = new URL('../../../../../fixtures/commands/', import.meta.url);

/** The text of a fixture file in test/fixtures/commands/. */
export function fixture(name: string): string {
  return readFileSync(fileURLToPath(new URL(name, FIXTURES)), 'utf8');
}

export type ReportRow = Record<string, string>;

/**
 * Renders rows as lvm2 2.03 renders a JSON report (two-space outer indent, one row per line, `"key":"value"` pairs
 * joined by ", "), so scripted answers look exactly like the captured ones; the lvm tests check this renderer
 * against the captured fixtures byte for byte.
 */
export function lvmJson(kind: 'lv' | 'vg', rows: readonly ReportRow[]): string {
  const line = (row: ReportRow): string =>
    `{${Object.entries(row)
      .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
      .join(', ')}}`;
  const body = rows.map((row, i) => `                  ${line(row)}${i < rows.length - 1 ? ',' : ''}\n`).join('');
  return `  {\n      "report": [\n          {\n              "${kind}": [\n${body}              ]\n          }\n      ]\n  }\n`;
}

/** The rows of an lvm2 JSON report fixture. */
export function reportRows(text: string, kind: 'lv' | 'vg'): ReportRow[] {
  const json = JSON.parse(text) as { report: Record<string, ReportRow[]>[] };
  return json.report.flatMap((r) => r[kind] ?? []);
}

/**
 * An `lvs` report derived from a fixture: rows changed by `update` (by lv_name) and `add`ed at the end. Used for the
 * state a scripted lvm2 would report after lvcreate/lvextend.
 */
export function lvsAfter(text: string, change: { update?: Record<string, Partial<ReportRow>>; add?: ReportRow[] }): string {
  const rows = reportRows(text, 'lv').map((row) => {
    const patch = change.update?.[row.lv_name ?? ''];
    return patch ? ({ ...row, ...patch } as ReportRow) : row;
  });
  return lvmJson('lv', [...rows, ...(change.add ?? [])]);
}
