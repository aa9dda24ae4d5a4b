import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CommandRunner } from '../../exec/command-runner.js';
import type { DrbdBackend } from './backend.js';
import { EmulatedDrbdBackend } from './emulated/backend.js';
import { DrbdUtilsBackend } from './utils-backend.js';

/** What an operator may ask for: a backend by name, or `auto` (the kernel module decides). */
export type DrbdBackendChoice = 'auto' | 'drbd-utils' | 'emulated';
export const DRBD_BACKEND_CHOICES: readonly DrbdBackendChoice[] = ['auto', 'drbd-utils', 'emulated'];

export interface DrbdBackendSelection {
  choice: DrbdBackendChoice;
  runner: CommandRunner;
  log: Logger;
  /** This node's `on` section name (the host name reported to the controller). */
  hostname: string;
  /** Directory of the generated .res files. */
  resDir: string;
  /** Satellite state directory (the emulated backend keeps its emulated on-disk metadata under it). */
  stateDir: string;
  /** drbd-utils only: the include file that makes drbdadm read `resDir` (default /etc/drbd.d/blockplane-resources.res). */
  includeFile?: string;
  /** /proc/drbd, for tests. */
  procDrbd?: string;
}

/** The DRBD 9 kernel module's version from /proc/drbd, or null when the module is not loaded. */
export async function kernelDrbdVersion(procDrbd = '/proc/drbd'): Promise<string | null> {
  const text = await readFile(procDrbd, 'utf8').catch(() => null);
  return text ? (/version:\s*(\S+)/.exec(text)?.[1] ?? 'unknown') : null;
}

async function drbdadmInstalled(): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (await access(path.join(dir, 'drbdadm')).then(() => true, () => false)) return true;
  }
  return false;
}

/**
 * Builds the satellite's DRBD backend. `auto` takes `drbd-utils` when the DRBD 9 kernel module is loaded and
 * `emulated` otherwise (with a warning that says so: an emulated node replicates nothing). The emulated backend
 * validates the generated files with the real drbdadm parser when drbd-utils is installed.
 */
export async function selectDrbdBackend(options: DrbdBackendSelection): Promise<DrbdBackend> {
  const { log } = options;
  let choice = options.choice;
  if (choice === 'auto') {
    const version = await kernelDrbdVersion(options.procDrbd);
    if (version?.startsWith('9.')) choice = 'drbd-utils';
    else {
      choice = 'emulated';
      log.warn(
        { kernelDrbd: version },
        version
          ? `the loaded DRBD kernel module is ${version}, not DRBD 9: using the EMULATED DRBD backend (no data is replicated); pass --drbd-backend drbd-utils to force the real one`
          : 'no DRBD kernel module is loaded: using the EMULATED DRBD backend (no data is replicated); load drbd 9 and restart, or pass --drbd-backend drbd-utils',
      );
    }
  }
  if (choice === 'drbd-utils') {
    const includeFile = options.includeFile ?? '/etc/drbd.d/blockplane-resources.res';
    // drbdadm reads /etc/drbd.conf, which includes /etc/drbd.d/*.res; this file pulls in the generated ones
    // (LINSTOR does the same with /etc/drbd.d/linstor-resources.res).
    await mkdir(path.dirname(includeFile), { recursive: true });
    await writeFile(includeFile, `# Written by the blockplane satellite: the DRBD resources it manages.\ninclude "${options.resDir}/*.res";\n`);
    // drbdadm finds its own `on` section by the system host name; a different --hostname must be pretended.
    const pretend = options.hostname !== os.hostname() ? { drbdNodeName: options.hostname } : {};
    return new DrbdUtilsBackend({ runner: options.runner, log: log.child({ drbdBackend: 'drbd-utils' }), ...pretend });
  }
  const validator = (await drbdadmInstalled())
    ? new DrbdUtilsBackend({ runner: options.runner, log, drbdNodeName: options.hostname })
    : null;
  if (!validator) log.warn('drbdadm is not installed: the emulated DRBD backend cannot check the generated .res files (apt-get install drbd-utils)');
  return new EmulatedDrbdBackend({
    log,
    validator: validator ? (name, file) => validator.validate(name, file) : undefined,
    metadataDir: path.join(options.stateDir, 'emulated-drbd'),
  });
}
