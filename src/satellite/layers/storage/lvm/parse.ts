/**
 * Pure parsers of lvm2 output (`lvs`/`vgs --reportformat json --units b --nosuffix`), checked against output captured
 * from lvm2 2.03.16 (test/fixtures/commands/lvs-*.json, vgs-*.json). Malformed output throws {@link LvmOutputError}
 * naming the command and the offending part, never a TypeError from deep inside.
 */

/** lvm2 printed something the parser cannot read; the message names the command and what was wrong. */
export class LvmOutputError extends Error {
  constructor(command: 'lvs' | 'vgs', problem: string, output: string) {
    const excerpt = output.trim().replace(/\s+/g, ' ').slice(0, 200);
    super(`Cannot read the output of ${command}: ${problem} (output: ${excerpt ? `'${excerpt}'` : 'empty'})`);
    this.name = 'LvmOutputError';
  }
}

/**
 * An exact percentage as a fraction: the value in percent is `numerator / denominator`. lvm2 prints percentages
 * with two decimals ("25.54"); keeping them exact lets capacity math stay in bigint without float rounding.
 */
export interface Percent {
  numerator: bigint;
  denominator: bigint;
}

/** One row of `lvs`. */
export interface LvRecord {
  name: string;
  vg: string;
  sizeBytes: bigint;
  /** lvm2 prints the tags comma-separated and sorted; empty when the LV has none. */
  tags: string[];
  /** The 10-character lv_attr, e.g. `-wi-ao----`; its first character is the volume type (`t` thin pool, `V` thin). */
  attr: string;
  /** The thin pool of a thin volume; empty for every other LV. */
  poolLv: string;
  /** Data usage of thin pools and thin volumes; null when lvm2 leaves it empty (thick LVs, inactive thin LVs). */
  dataPercent: Percent | null;
  metadataPercent: Percent | null;
}

/** One row of `vgs`. */
export interface VgRecord {
  name: string;
  sizeBytes: bigint;
  freeBytes: bigint;
}

/**
 * Parses a percentage as lvm2 prints it ("25.54", "0.00", "100.00"); "" (lvm2's "unknown") gives null.
 * @throws Error for anything else; callers wrap it into an {@link LvmOutputError}.
 */
export function parsePercent(text: string): Percent | null {
  if (text === '') return null;
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a percentage`);
  const decimals = m[2] ?? '';
  return { numerator: BigInt(`${m[1]}${decimals}`), denominator: 10n ** BigInt(decimals.length) };
}

/** Bytes to KiB, rounded down (a report in bytes never understates what a KiB figure claims). */
export function bytesToKib(bytes: bigint): bigint {
  return bytes / 1024n;
}

/**
 * `percent` of `bytes`, in KiB, rounded down once: `bytes * percent / 100 / 1024` as a single exact division, so no
 * intermediate rounding can add up.
 */
export function percentOfBytesInKib(bytes: bigint, percent: Percent): bigint {
  return (bytes * percent.numerator) / (percent.denominator * 100n * 1024n);
}

/** Parses the stdout of `lvs --reportformat json --units b --nosuffix -o <LVS_FIELDS>`. */
export function parseLvsReport(stdout: string): LvRecord[] {
  return reportRows('lvs', 'lv', stdout).map((row, index) => {
    const field = fieldReader('lvs', row, index, stdout);
    const percent = (key: string): Percent | null => {
      const text = field(key);
      try {
        return parsePercent(text);
      } catch (error) {
        throw new LvmOutputError('lvs', `row ${index}: ${key} ${(error as Error).message}`, stdout);
      }
    };
    const tags = field('lv_tags');
    return {
      name: nonEmpty('lvs', field, 'lv_name', index, stdout),
      vg: nonEmpty('lvs', field, 'vg_name', index, stdout),
      sizeBytes: bytes('lvs', field, 'lv_size', index, stdout),
      tags: tags === '' ? [] : tags.split(','),
      attr: field('lv_attr'),
      poolLv: field('pool_lv'),
      dataPercent: percent('data_percent'),
      metadataPercent: percent('metadata_percent'),
    };
  });
}

/** Parses the stdout of `vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free`. */
export function parseVgsReport(stdout: string): VgRecord[] {
  return reportRows('vgs', 'vg', stdout).map((row, index) => {
    const field = fieldReader('vgs', row, index, stdout);
    return {
      name: nonEmpty('vgs', field, 'vg_name', index, stdout),
      sizeBytes: bytes('vgs', field, 'vg_size', index, stdout),
      freeBytes: bytes('vgs', field, 'vg_free', index, stdout),
    };
  });
}

/**
 * True when lvm2's stderr says the VG does not exist (`Volume group "vg0" not found`, exit code 5; captured in
 * test/fixtures/commands/vgs-missing.stderr.txt). Matched on the exact VG name so that a message about another VG
 * (e.g. a foreign VG on a broken disk) is not mistaken for ours missing.
 */
export function isVolumeGroupNotFound(stderr: string, vg: string): boolean {
  return stderr.includes(`Volume group "${vg}" not found`);
}

/**
 * The rows of a JSON report: `{"report":[{"<kind>":[{...}, ...]}]}`. lvm2 may emit several report objects (one per
 * command invocation segment) and, with log reporting configured, a "log" key beside "report": rows of every report
 * object are concatenated and other keys are ignored.
 */
function reportRows(command: 'lvs' | 'vgs', kind: 'lv' | 'vg', stdout: string): Record<string, unknown>[] {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (error) {
    throw new LvmOutputError(command, `not a JSON report (${(error as Error).message}); was --reportformat json given?`, stdout);
  }
  const reports = isObject(json) ? json.report : undefined;
  if (!Array.isArray(reports)) throw new LvmOutputError(command, 'no "report" array', stdout);
  const rows: Record<string, unknown>[] = [];
  for (const entry of reports) {
    const list = isObject(entry) ? entry[kind] : undefined;
    if (!Array.isArray(list)) throw new LvmOutputError(command, `a report without a "${kind}" array`, stdout);
    for (const row of list) {
      if (!isObject(row)) throw new LvmOutputError(command, `a "${kind}" entry that is not an object`, stdout);
      rows.push(row);
    }
  }
  return rows;
}

function fieldReader(command: 'lvs' | 'vgs', row: Record<string, unknown>, index: number, stdout: string) {
  return (key: string): string => {
    const value = row[key];
    if (typeof value !== 'string') {
      throw new LvmOutputError(command, `row ${index} has no string field "${key}" (was it requested with -o?)`, stdout);
    }
    return value;
  };
}

function nonEmpty(command: 'lvs' | 'vgs', field: (key: string) => string, key: string, index: number, stdout: string): string {
  const value = field(key);
  if (value === '') throw new LvmOutputError(command, `row ${index} has an empty "${key}"`, stdout);
  return value;
}

function bytes(command: 'lvs' | 'vgs', field: (key: string) => string, key: string, index: number, stdout: string): bigint {
  const value = field(key);
  // Digits only: "--units b --nosuffix" prints whole bytes; a "m" or "<" here means the options were lost.
  if (!/^\d+$/.test(value)) {
    throw new LvmOutputError(command, `row ${index}: "${key}" is '${value}', not a byte count (were --units b --nosuffix given?)`, stdout);
  }
  return BigInt(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
