import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, realpath, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiError } from '../../../src/common/api-rc.js';
import { ExecaCommandRunner, type CommandResult } from '../../../src/satellite/exec/command-runner.js';
import { losetupList } from '../../../src/satellite/layers/storage/file/commands.js';
import { parseLosetupList, type LoopDevice } from '../../../src/satellite/layers/storage/file/parse.js';
import { FileProvider, FileThinProvider } from '../../../src/satellite/layers/storage/file/provider.js';
import type { PoolSpec } from '../../../src/satellite/layers/storage/provider.js';

/**
 * FILE and FILE_THIN against the real host: real files in a temporary directory, real loop devices, the production
 * ExecaCommandRunner. Needs root and loop device support (`losetup -f --show FILE` must work). Other processes on this
 * machine use loop devices too, so the test only ever detaches devices whose backing file is under its own directory.
 */

const MiB = 1024n * 1024n;
const commands: CommandResult[] = [];
const runner = new ExecaCommandRunner({
  onCommand: (result) => {
    if ('durationMs' in result) commands.push(result);
  },
});

let root = '';
let readOnlyMount: string | null = null;
let thick: FileProvider;
let thin: FileThinProvider;
let thickDir: string;
let thinDir: string;

async function loopDevices(): Promise<LoopDevice[]> {
  return parseLosetupList((await runner.run({ argv: losetupList() })).stdout);
}

async function deviceBytes(device: string): Promise<bigint> {
  return BigInt((await runner.run({ argv: ['blockdev', '--getsize64', device] })).stdout.trim());
}

/** Loop devices backed by `file`, also ones still holding it after it was unlinked. */
async function devicesOf(file: string): Promise<string[]> {
  return (await loopDevices()).filter((d) => d.backFile === file).map((d) => d.device);
}

const poolSpec = (providerKind: 'FILE' | 'FILE_THIN', dir: string): PoolSpec => ({
  name: providerKind === 'FILE' ? 'file-thick' : 'file-thin',
  providerKind,
  props: { 'StorDriver/FileDir': dir },
});

beforeAll(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'bp-file-it-')));
  thickDir = path.join(root, 'thick');
  thinDir = path.join(root, 'thin');
  await mkdir(thickDir);
  await mkdir(thinDir);
  // Foreign entries the providers must neither list nor touch.
  for (const dir of [thickDir, thinDir]) {
    await writeFile(path.join(dir, 'notes.txt'), 'not ours');
    await writeFile(path.join(dir, 'disk.img'), 'not ours either: no LINSTOR volume name');
  }
  thick = new FileProvider(poolSpec('FILE', thickDir), { runner });
  thin = new FileThinProvider(poolSpec('FILE_THIN', thinDir), { runner });
});

afterAll(async () => {
  // Runs after failures too: detach whatever is still attached from our directory, then remove it.
  if (root) {
    for (const device of await loopDevices().catch(() => [])) {
      if (device.backFile?.startsWith(`${root}/`)) {
        await runner.run({ argv: ['losetup', '--detach', device.device] }).catch(() => undefined);
      }
    }
  }
  if (readOnlyMount) await runner.run({ argv: ['umount', readOnlyMount] }).catch(() => undefined);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('FILE and FILE_THIN on real loop devices', () => {
  let thickDevice: string;
  let thinDevice: string;

  it('reports the capacity of the filesystem holding the pool directory', async () => {
    // Cross-checked against statfs; on ext4 f_frsize equals f_bsize, so both ways agree on the total.
    const fs = await statfs(thickDir, { bigint: true });
    const capacity = await thick.capacity();
    expect(capacity.totalKib).toBe((fs.blocks * fs.bsize) / 1024n);
    expect(capacity.freeKib).toBeGreaterThan(0n);
    expect(capacity.freeKib).toBeLessThanOrEqual(capacity.totalKib);
    expect((await thin.capacity()).totalKib).toBe(capacity.totalKib);
  });

  it('creates a thick volume: a fully allocated file on a loop device of the same size', async () => {
    const freeBefore = (await thick.capacity()).freeKib;
    const volume = await thick.create({ name: 'thick1_00000', sizeKib: 64n * 1024n });
    const file = path.join(thickDir, 'thick1_00000.img');
    const st = await stat(file, { bigint: true });
    expect(st.size).toBe(64n * MiB);
    expect(st.blocks * 512n).toBeGreaterThanOrEqual(64n * MiB);
    expect(volume).toMatchObject({ name: 'thick1_00000', sizeKib: 64n * 1024n, allocatedKib: 64n * 1024n });
    expect(volume.devicePath).toMatch(/^\/dev\/loop\d+$/);
    thickDevice = volume.devicePath!;
    expect(existsSync(thickDevice)).toBe(true);
    expect(await deviceBytes(thickDevice)).toBe(64n * MiB);
    expect(await devicesOf(file)).toEqual([thickDevice]);
    // Allocation happens at create time. Other processes share this filesystem, so leave them 16 MiB of slack.
    expect(freeBefore - (await thick.capacity()).freeKib).toBeGreaterThan(48n * 1024n);
  });

  it('creates a thin volume: a sparse file on a loop device of the full size', async () => {
    const volume = await thin.create({ name: 'thin1_00000', sizeKib: 256n * 1024n });
    const st = await stat(path.join(thinDir, 'thin1_00000.img'), { bigint: true });
    expect(st.size).toBe(256n * MiB);
    expect(st.blocks).toBe(0n);
    expect(volume).toMatchObject({ name: 'thin1_00000', sizeKib: 256n * 1024n, allocatedKib: 0n });
    thinDevice = volume.devicePath!;
    expect(thinDevice).toMatch(/^\/dev\/loop\d+$/);
    expect(thinDevice).not.toBe(thickDevice);
    expect(await deviceBytes(thinDevice)).toBe(256n * MiB);
  });

  it('data written to the thin device shows up as allocated space and less free space', async () => {
    const freeBefore = (await thin.capacity()).freeKib;
    const device = await open(thinDevice, 'r+');
    try {
      const chunk = Buffer.alloc(Number(MiB), 0x5a);
      chunk.write('blockplane', 0);
      for (let i = 0; i < 64; i++) await device.write(chunk, 0, chunk.length, i * Number(MiB));
      // fsync of the loop device flushes through to its backing file, so the blocks are really allocated now.
      await device.sync();
    } finally {
      await device.close();
    }
    const [volume] = await thin.list();
    expect(volume!.allocatedKib).toBeGreaterThanOrEqual(64n * 1024n);
    expect(volume!.allocatedKib).toBeLessThan(256n * 1024n);
    expect(freeBefore - (await thin.capacity()).freeKib).toBeGreaterThan(48n * 1024n);
  });

  it('grows both volumes and their loop devices', async () => {
    expect(await thick.resize({ name: 'thick1_00000', sizeKib: 96n * 1024n })).toMatchObject({
      sizeKib: 96n * 1024n,
      devicePath: thickDevice,
    });
    expect(await deviceBytes(thickDevice)).toBe(96n * MiB);
    expect((await stat(path.join(thickDir, 'thick1_00000.img'), { bigint: true })).blocks * 512n).toBeGreaterThanOrEqual(96n * MiB);

    expect(await thin.resize({ name: 'thin1_00000', sizeKib: 512n * 1024n })).toMatchObject({
      sizeKib: 512n * 1024n,
      devicePath: thinDevice,
    });
    expect(await deviceBytes(thinDevice)).toBe(512n * MiB);
    // Growing a thin volume allocates nothing.
    expect((await thin.list())[0]!.allocatedKib).toBeLessThan(128n * 1024n);
  });

  it('create again is idempotent: same device, no second attachment, data intact', async () => {
    expect((await thick.create({ name: 'thick1_00000', sizeKib: 64n * 1024n })).devicePath).toBe(thickDevice);
    expect((await thin.create({ name: 'thin1_00000', sizeKib: 512n * 1024n })).devicePath).toBe(thinDevice);
    expect(await devicesOf(path.join(thickDir, 'thick1_00000.img'))).toEqual([thickDevice]);
    expect(await devicesOf(path.join(thinDir, 'thin1_00000.img'))).toEqual([thinDevice]);
    expect(await deviceBytes(thickDevice)).toBe(96n * MiB);
  });

  it('after the loop device is gone (as after a reboot), list shows no device and create attaches the file again', async () => {
    await runner.run({ argv: ['losetup', '--detach', thinDevice] });
    expect((await thin.list())[0]).toMatchObject({ name: 'thin1_00000', devicePath: null, sizeKib: 512n * 1024n });
    const volume = await thin.create({ name: 'thin1_00000', sizeKib: 512n * 1024n });
    thinDevice = volume.devicePath!;
    expect(thinDevice).toMatch(/^\/dev\/loop\d+$/);
    expect(await deviceBytes(thinDevice)).toBe(512n * MiB);
    const device = await open(thinDevice, 'r');
    try {
      const head = Buffer.alloc(10);
      await device.read(head, 0, 10, 0);
      expect(head.toString()).toBe('blockplane');
    } finally {
      await device.close();
    }
  });

  it('lists only its own volumes, never the foreign files next to them', async () => {
    await writeFile(path.join(thinDir, 'thin2_00000.img.bak'), 'a copy someone made');
    expect((await thick.list()).map((v) => [v.name, v.devicePath])).toEqual([['thick1_00000', thickDevice]]);
    expect((await thin.list()).map((v) => [v.name, v.devicePath])).toEqual([['thin1_00000', thinDevice]]);
    await expect(thin.delete('notes.txt')).rejects.toThrow(/not a backing volume name blockplane creates/);
    await expect(thin.delete('disk')).rejects.toThrow(ApiError);
  });

  it('deletes: loop devices detached, files removed, foreign files kept', async () => {
    await thick.delete('thick1_00000');
    await thin.delete('thin1_00000');
    for (const file of [path.join(thickDir, 'thick1_00000.img'), path.join(thinDir, 'thin1_00000.img')]) {
      expect(existsSync(file)).toBe(false);
      expect(await devicesOf(file)).toEqual([]);
    }
    const attached = (await loopDevices()).map((d) => d.device);
    expect(attached).not.toContain(thickDevice);
    expect(attached).not.toContain(thinDevice);
    expect(await thick.list()).toEqual([]);
    expect(await thin.list()).toEqual([]);
    expect(await readFile(path.join(thinDir, 'notes.txt'), 'utf8')).toBe('not ours');
    expect(existsSync(path.join(thickDir, 'disk.img'))).toBe(true);
    // Deleting again is a no-op.
    await thin.delete('thin1_00000');
  });

  it('check() passes for the pool directories and explains a missing one', async () => {
    await thick.check();
    await thin.check();
    const missing = path.join(root, 'does-not-exist');
    const provider = new FileThinProvider(poolSpec('FILE_THIN', missing), { runner });
    await expect(provider.check()).rejects.toThrow(
      `Storage pool 'file-thin' (FILE_THIN): directory '${missing}' (StorDriver/FileDir) does not exist. ` +
        `Create it on this node (mkdir -p '${missing}'), or set StorDriver/FileDir to an existing directory.`,
    );
  });

  it('check() explains a directory on a read-only filesystem', async () => {
    const mountPoint = path.join(root, 'read-only');
    await mkdir(mountPoint);
    await runner.run({ argv: ['mount', '-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint] });
    readOnlyMount = mountPoint;
    const provider = new FileProvider(poolSpec('FILE', mountPoint), { runner });
    await expect(provider.check()).rejects.toThrow(
      `Storage pool 'file-thick' (FILE): directory '${mountPoint}' (StorDriver/FileDir) is not writable (EROFS).`,
    );
    await runner.run({ argv: ['umount', mountPoint] });
    readOnlyMount = null;
  });

  it('ran every host command through the runner (for the record: what it ran and how long it took)', () => {
    const byTool = new Map<string, { count: number; ms: number }>();
    for (const c of commands) {
      const key = c.argv.slice(0, 2).join(' ');
      const entry = byTool.get(key) ?? { count: 0, ms: 0 };
      byTool.set(key, { count: entry.count + 1, ms: entry.ms + c.durationMs });
    }
    expect([...byTool.keys()]).toEqual(expect.arrayContaining(['losetup --json', 'losetup --find', 'losetup --set-capacity', 'losetup --detach', 'fallocate --length', 'df --output=size,avail']));
    if (process.env.BLOCKPLANE_TEST_TIMINGS) {
      console.log([...byTool].map(([k, v]) => `${k}: ${v.count}x, ${(v.ms / v.count).toFixed(1)} ms avg`).join('\n'));
    }
  });
});
