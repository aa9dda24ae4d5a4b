import type { CommandError } from '../../exec/command-runner.js';
import { DrbdConfigError } from './backend.js';

/**
 * Pure argv builders for the drbd-utils commands of the drbd-utils backend (drbdadm, drbdsetup, drbdmeta), and the
 * readers of their answers. Nothing here runs a process; utils-backend.ts passes the argv to the CommandRunner
 * (STYLE rule 6). Every form was checked against drbd-utils 9.22 (`drbdadm -d` prints the drbdsetup/drbdmeta calls
 * a drbdadm command makes; drbdmeta was run on a loop device, see test/fixtures/commands/drbd/README.md).
 */

/** How drbdadm finds the configuration. */
export interface DrbdadmOptions {
  /**
   * `-c <file>`: read this file instead of /etc/drbd.conf. Unset in production, where /etc/drbd.conf includes
   * /etc/drbd.d/*.res (and global_common.conf, which `-c` would leave out; LINSTOR passes no `-c` for that reason);
   * set in tests and wherever the generated files are not included from /etc/drbd.conf.
   */
  config?: string;
}

/** drbdadm's exit code for a configuration it refuses to parse (E_CONFIG_INVALID): file:line messages on stderr. */
export const DRBDADM_EXIT_CONFIG_INVALID = 10;

/** drbdmeta's exit code when it finds no valid metadata of the asked format (captured from 9.22: `dstate`, `dump-md`). */
export const DRBDMETA_EXIT_NO_METADATA = 1;
/** What drbdmeta prints on stderr with {@link DRBDMETA_EXIT_NO_METADATA}. */
export const DRBDMETA_NO_METADATA_MESSAGE = 'No valid meta data found';

function drbdadm(options: DrbdadmOptions, rest: readonly string[]): string[] {
  return ['drbdadm', ...(options.config !== undefined ? ['-c', options.config] : []), ...rest];
}

/**
 * `drbdadm -c <file> sh-nop`: parses and checks one resource file on its own, exit 0 when drbdadm accepts it and
 * {@link DRBDADM_EXIT_CONFIG_INVALID} with `file:line: ...` messages when not. Needs no kernel module.
 *
 * The file is checked alone, so conflicts with *other* resources (the same minor or port twice) are not found here;
 * `adjust` finds those. LINSTOR instead checks the candidate inside the whole configuration with
 * `drbdadm --config-to-test <tmp> --config-to-exclude <current> sh-nop`, which needs the path of the file being
 * replaced (DrbdBackend.validate is given only the candidate).
 */
export function validateCommand(resFile: string): string[] {
  return ['drbdadm', '-c', resFile, 'sh-nop'];
}

/**
 * `drbdadm -c <file> dump <res>`: prints the resource as drbdadm parsed it (normalised, unquoted). Diagnostics only:
 * the first comment line says whether drbdadm treats the resource as local (`on <host>: not ignored`).
 */
export function dumpCommand(resFile: string, resourceName: string): string[] {
  return ['drbdadm', '-c', resFile, 'dump', resourceName];
}

/**
 * `drbdadm --max-peers <n> -- --force create-md <res>/<vol>`: writes fresh DRBD 9 metadata with `peerSlots` bitmap
 * slots on the volume's backing device (drbdadm runs `drbdmeta <minor> v09 <disk> internal create-md <n> --force`).
 * `--force` (after `--`, so drbdadm hands it to drbdmeta) answers drbdmeta's questions, e.g. about an old
 * filesystem signature: only ever run it after {@link metadataCheckCommand} found no metadata.
 */
export function createMetadataCommand(resourceName: string, volumeNumber: number, peerSlots: number, options: DrbdadmOptions): string[] {
  return drbdadm(options, ['--max-peers', String(peerSlots), '--', '--force', 'create-md', `${resourceName}/${volumeNumber}`]);
}

/**
 * `drbdadm adjust <res>`: makes the running resource match its configuration; brings it up when it is down
 * (new-resource, new-minor, new-peer, new-path, attach, connect).
 */
export function adjustCommand(resourceName: string, options: DrbdadmOptions): string[] {
  return drbdadm(options, ['adjust', resourceName]);
}

/**
 * `drbdsetup down <res>`, as LINSTOR does it (DrbdAdm.down uses drbdsetup): unlike `drbdadm down` it needs no
 * configuration, so it also works after the .res file was removed (drbdadm would answer `'<res>' not defined in your
 * config (for this host).`, exit 1). drbdsetup's down is "missing ok": a resource the kernel does not know is
 * success (exit 0, nothing printed unless stderr is a terminal), and so is a host without the kernel module (9.22
 * prints "Failed to modprobe drbd" and still exits 0: nothing can be up).
 */
export function downCommand(resourceName: string): string[] {
  return ['drbdsetup', 'down', resourceName];
}

/** `drbdadm resize <res>/<vol>`: lets DRBD grow the device after its backing device grew (resize + check-resize). */
export function resizeCommand(resourceName: string, volumeNumber: number, options: DrbdadmOptions): string[] {
  return drbdadm(options, ['resize', `${resourceName}/${volumeNumber}`]);
}

/** `drbdadm primary --force <res>`: promotes and declares the local data UpToDate (initial sync source). */
export function primaryForceCommand(resourceName: string, options: DrbdadmOptions): string[] {
  return drbdadm(options, ['primary', '--force', resourceName]);
}

/** `drbdadm secondary <res>`: demotes again, so that auto-promote can promote whichever node opens the device. */
export function secondaryCommand(resourceName: string, options: DrbdadmOptions): string[] {
  return drbdadm(options, ['secondary', resourceName]);
}

/**
 * `drbdmeta --force <minor> v09 <backing> internal dstate`: whether the backing device carries DRBD 9 internal
 * metadata. Exit 0 and the stored disk state (e.g. `Inconsistent`) when it does; exit
 * {@link DRBDMETA_EXIT_NO_METADATA} with {@link DRBDMETA_NO_METADATA_MESSAGE} on stderr when it does not. Any other
 * outcome (exit 20 `open(<dev>) failed`, a timeout) is no answer at all.
 *
 * Why `dstate`: it reads only the superblock. `dump-md` gives the same answer but prints the whole bitmap (slow and
 * large on big devices); `get-gi --node-id 0`, which LINSTOR uses, exits 1 *silently* without metadata in 9.22, so a
 * "no" could not be told from another failure with exit 1. `--force` skips drbdmeta's "Exclusive open failed. Do it
 * anyways?" question (stdin is closed) when something else holds the device open; dstate only reads.
 */
export function metadataCheckCommand(minor: number, backingDevice: string): string[] {
  return ['drbdmeta', '--force', String(minor), 'v09', backingDevice, 'internal', 'dstate'];
}

/**
 * `drbdsetup events2 all`: the kernel's state stream, LINSTOR's DrbdEventService command. It prints the current
 * state (`exists ...` lines, ending with `exists -`) and then every change, until killed. No `--now` (that would end
 * after the dump), no `--timestamps` (it puts a time before every line, which the events2 parser does not expect),
 * no `--statistics` (I/O counters that change constantly; drbd-utils 9 prints the resync `done:` percentage without
 * it). Needs the kernel module: without it drbdsetup exits 20 with "Failed to modprobe drbd".
 */
export function events2Command(): string[] {
  return ['drbdsetup', 'events2', 'all'];
}

/**
 * Whether drbdmeta's failure means "no metadata on this device" (and not some other failure): exit 1 with
 * "No valid meta data found", captured from drbdmeta 9.22 on a blank device and on one with v08 metadata.
 */
export function isNoMetadata(error: CommandError): boolean {
  return error.exitCode === DRBDMETA_EXIT_NO_METADATA && error.stderr.includes(DRBDMETA_NO_METADATA_MESSAGE);
}

/**
 * Lines drbd-utils prints that are not about the configuration: `modinfo` (and `modprobe`) complaints on hosts
 * without the DRBD kernel module, and the notice drbdadm prints when `__DRBD_NODE__` overrides the host name.
 */
const NOISE = [/^modinfo: /, /^modprobe: /, /^\s*found __DRBD_NODE__ in environment\s*$/, /^\s*PRETENDING that I am >>.*<<\s*$/];

/** drbd-utils' stderr without {@link NOISE} and blank lines; drbdadm's `file:line: ...` messages stay verbatim. */
export function drbdadmMessage(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !NOISE.some((n) => n.test(line)))
    .join('\n');
}

/**
 * The {@link DrbdConfigError} for a drbdadm run that refused a configuration, carrying drbdadm's own messages (e.g.
 * `r.res:37: conflicting use of node-id 'pvc-1:1' ...`) without the module noise. Falls back to stdout, then to the
 * CommandError's message, when stderr has nothing left.
 */
export function toDrbdConfigError(resourceName: string, error: CommandError): DrbdConfigError {
  const message = drbdadmMessage(error.stderr) || drbdadmMessage(error.stdout) || error.message;
  return new DrbdConfigError(resourceName, message);
}
