/**
 * Pure argv builders for the LVM_THIN provider. Reports, lvextend and lvremove are the thick provider's
 * (../lvm/commands.ts): lvm2 treats thin volumes the same way there.
 */
import { BLOCKPLANE_LV_TAG, type LvmCommandOptions, type LvSizeRequest } from '../lvm/commands.js';

/** A thin volume request: the VG, the thin pool LV inside it, the new volume's name and virtual size. */
export interface ThinLvRequest extends LvSizeRequest {
  thinPool: string;
}

/**
 * `lvcreate -V <size>k -T VG/THINPOOL -n NAME --addtag blockplane`: a thin volume of virtual size `sizeKib` in the
 * given thin pool, tagged as ours.
 *
 * No `--wipesignatures`/`-y` here, unlike a thick LV: a new thin volume has no provisioned chunks and reads back
 * zeroes, so no old signature can show through, and wiping would only provision a chunk for nothing.
 */
export function lvcreateThinCommand(request: ThinLvRequest, options: LvmCommandOptions): string[] {
  return [
    'lvcreate',
    ...(options.metadataOnly ? ['--driverloaded', 'n'] : []),
    '-V',
    `${request.sizeKib}k`,
    '-T',
    `${request.vg}/${request.thinPool}`,
    '-n',
    request.name,
    '--addtag',
    BLOCKPLANE_LV_TAG,
  ];
}
