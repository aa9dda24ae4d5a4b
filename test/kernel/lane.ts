import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleAgent, type Guest } from '../../scripts/kernel-lane/guest.js';
import { prepareImage, type LaneImage } from '../../scripts/kernel-lane/image.js';

/** What every lane test file needs: the guest image, the agent bundle and a run directory. */
export interface Lane {
  image: LaneImage;
  /** Holds agent.mjs, shared read-only with the guests. */
  agentDir: string;
  /** Disks, sockets and console logs of this file's guests. */
  runDir: string;
}

/** One line on stderr (jest's console.log would add a stack location to each). */
export function note(line: string): void {
  process.stderr.write(`[kernel lane] ${line}\n`);
}

/**
 * Builds (or takes from the cache) the image and bundles the agent. Throws a LanePrerequisiteError naming the
 * install step when qemu, busybox-static, kmod or the kernel package is missing: the lane fails, it never skips.
 */
export async function prepareLane(name: string): Promise<Lane> {
  const started = performance.now();
  const image = await prepareImage(note);
  const runDir = await mkdtemp(path.join(os.tmpdir(), `bp-kernel-lane-${name}-`));
  const agentDir = path.join(runDir, 'agent');
  await bundleAgent(agentDir);
  note(`${name}: image ${image.kernelPackage} ${image.kernelPackageVersion} (${image.built ? `built in ${image.buildMs} ms` : 'cached'}), agent bundled, ${Math.round(performance.now() - started)} ms; run dir ${runDir}`);
  return { image, agentDir, runDir };
}

/**
 * Powers every guest off (each is killed if it does not go within seconds), then removes the disks and sockets.
 * Console logs stay in the run directory for a failed run to be read.
 */
export async function tearDown(lane: Lane | undefined, guests: readonly (Guest | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(guests.filter((g): g is Guest => g !== undefined).map(async (g) => ({ g, off: await g.powerOff() })));
  for (const result of results) {
    if (result.status === 'fulfilled') note(`${result.value.g.hostname}: powered off${result.value.off.forced ? ' (killed: it did not power off in time)' : ''}`);
  }
  if (!lane) return;
  for (const entry of await readdir(lane.runDir).catch(() => [] as string[])) {
    if (!entry.endsWith('-console.log')) await rm(path.join(lane.runDir, entry), { recursive: true, force: true });
  }
}
