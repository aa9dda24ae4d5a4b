/**
 * Pure argv builders for the lvm2 tools used by the LVM and LVM_THIN providers. Nothing here runs a process; the
 * providers pass the argv to the CommandRunner (STYLE rule 6).
 */

/** The LV tag that marks a logical volume as created by blockplane; we never list, resize or delete untagged LVs. */
export const BLOCKPLANE_LV_TAG = 'blockplane';

/** Columns of every `lvs` report, in this order; parse.ts reads them by name. */
export const LVS_FIELDS = [
  'lv_name',
  'vg_name',
  'lv_size',
  'lv_tags',
  'lv_attr',
  'pool_lv',
  'data_percent',
  'metadata_percent',
] as const;

/** Columns of every `vgs` report. */
export const VGS_FIELDS = ['vg_name', 'vg_size', 'vg_free'] as const;

/** How every LVM command of one provider is run. */
export interface LvmCommandOptions {
  /**
   * Add the global option `--driverloaded n`: lvm2 then changes metadata only and never talks to device-mapper
   * (no device nodes appear). Only for tests on hosts without device-mapper, see ProviderOptions.lvmMetadataOnly.
   */
  metadataOnly: boolean;
}

/** Identifies one LV: volume group and LV name. */
export interface LvRef {
  vg: string;
  name: string;
}

/** A size request for an LV, in KiB (lvm2 rounds up to whole extents). */
export interface LvSizeRequest extends LvRef {
  sizeKib: bigint;
}

/** `<program> [--driverloaded n] ...rest`: the global options directly after the program name. */
function lvm(program: string, options: LvmCommandOptions, rest: readonly string[]): string[] {
  return [program, ...(options.metadataOnly ? ['--driverloaded', 'n'] : []), ...rest];
}

/**
 * The JSON report options shared by lvs and vgs: `--units b --nosuffix` gives exact byte counts as digits (the
 * default unit is a rounded, human-readable value), JSON avoids separator and padding ambiguities.
 */
function report(fields: readonly string[]): string[] {
  return ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', fields.join(',')];
}

/**
 * `lvs` of every LV in `vg` (thin pools and thin volumes included), as a JSON report with {@link LVS_FIELDS}.
 * One report per VG serves list, create, resize and delete alike, so every operation sees the same state.
 * Exit code 5 with `Volume group "<vg>" not found` on stderr when the VG does not exist.
 */
export function lvsCommand(vg: string, options: LvmCommandOptions): string[] {
  return lvm('lvs', options, [...report(LVS_FIELDS), vg]);
}

/** `vgs` of one VG, as a JSON report with {@link VGS_FIELDS}; exit code 5 when the VG does not exist. */
export function vgsCommand(vg: string, options: LvmCommandOptions): string[] {
  return lvm('vgs', options, [...report(VGS_FIELDS), vg]);
}

/**
 * `lvcreate` of a thick (linear) LV of at least `sizeKib` KiB, tagged as ours.
 *
 * `-y --wipesignatures y` rather than `-Wn -Zn`: a new LV may be carved from extents that held a deleted LV with a
 * filesystem, a RAID superblock or DRBD metadata. Left in place, such a signature makes udev/blkid (and `drbdadm
 * create-md`) see an old device where a blank one is expected, so we ask lvm2 to wipe it; `-y` answers the wipe
 * prompt, which would otherwise read EOF from our closed stdin and abort the command. The default zeroing of the
 * first 4 KiB stays on for the same reason. (LINSTOR's LvmCommands.createFat also passes `-y`.)
 */
export function lvcreateThickCommand(request: LvSizeRequest, options: LvmCommandOptions): string[] {
  return lvm('lvcreate', options, [
    '--size',
    `${request.sizeKib}k`,
    '-n',
    request.name,
    '-y',
    '--wipesignatures',
    'y',
    '--addtag',
    BLOCKPLANE_LV_TAG,
    request.vg,
  ]);
}

/**
 * `lvextend` of VG/NAME to `sizeKib` KiB. lvextend rather than lvresize: lvm2 itself then refuses to shrink ("New
 * size given ... not larger than existing size", exit 5), so a stale request can never cut off data even if it races
 * another resize. Works for thick LVs and for the virtual size of thin LVs alike.
 */
export function lvextendCommand(request: LvSizeRequest, options: LvmCommandOptions): string[] {
  return lvm('lvextend', options, ['--size', `${request.sizeKib}k`, `${request.vg}/${request.name}`]);
}

/** `lvremove -f VG/NAME`: `-f` skips the "really remove?" prompt (stdin is closed). */
export function lvremoveCommand(ref: LvRef, options: LvmCommandOptions): string[] {
  return lvm('lvremove', options, ['-f', `${ref.vg}/${ref.name}`]);
}
