import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Guest } from '../../scripts/kernel-lane/guest.js';
import type { ActualVolume, Capacity, PoolSpec } from '../../src/satellite/layers/storage/provider.js';
import { note, prepareLane, tearDown, type Lane } from './lane.js';

/**
 * The satellite's storage providers against a real kernel: one throwaway guest booting Debian's own kernel (real
 * device-mapper, dm-thin-pool, loop, ext4), in which the agent calls the providers exactly as the satellite does
 * (createProvider + the production ExecaCommandRunner) and they run the guest's lvm2/losetup/df. Unlike
 * test/integration/satellite/lvm-provider.test.ts (metadata-only, `--driverloaded n`, because the host kernel has
 * no device-mapper), every LV here is activated: device nodes exist, data is written to them, and sizes and data
 * usage come from what lvs/vgs/df report about real allocations.
 *
 * Set-up that is the operator's job, not the satellite's (pvcreate, vgcreate, the thin pool, a filesystem for the
 * FILE pools) goes through the same runner with plain commands.
 */

const MiB = 1024n;
let lane: Lane | undefined;
let guest: Guest | undefined;

const THIN: PoolSpec = { name: 'thin', providerKind: 'LVM_THIN', props: { 'StorDriver/LvmVg': 'vg0', 'StorDriver/ThinPool': 'thinpool' } };
const THICK: PoolSpec = { name: 'thick', providerKind: 'LVM', props: { 'StorDriver/LvmVg': 'vg0' } };
const FILE_THIN: PoolSpec = { name: 'files-thin', providerKind: 'FILE_THIN', props: { 'StorDriver/FileDir': '/run/filepool/thin' } };
const FILE: PoolSpec = { name: 'files', providerKind: 'FILE', props: { 'StorDriver/FileDir': '/run/filepool/thick' } };

function g(): Guest {
  if (!guest) throw new Error('the guest did not boot');
  return guest;
}

/** Writes `mib` MiB of random data at the start of `device` (O_DIRECT, flushed) and returns its sha256. */
async function writeRandom(device: string, mib: number): Promise<string> {
  await g().exec(['dd', 'if=/dev/urandom', `of=${device}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=fsync', 'status=none']);
  await g().exec(['sync']);
  return checksum(device, mib);
}

async function checksum(device: string, mib: number): Promise<string> {
  const result = await g().exec(['sh', '-c', `dd if="$0" bs=1M count=${mib} iflag=direct status=none | sha256sum`, device]);
  return result.stdout.split(' ')[0]!;
}

/** The size the kernel gives the block device, in KiB. */
async function deviceKib(device: string): Promise<bigint> {
  return BigInt((await g().exec(['blockdev', '--getsize64', device])).stdout.trim()) / 1024n;
}

function volumeNamed(volumes: ActualVolume[], name: string): ActualVolume | undefined {
  return volumes.find((v) => v.name === name);
}

beforeAll(async () => {
  lane = await prepareLane('storage');
  // vda: the LVM physical volume; vdb: the filesystem for the FILE pools.
  guest = await Guest.launch({ hostname: 'storage-1', image: lane.image, agentDir: lane.agentDir, runDir: lane.runDir, cpus: 2, memoryMiB: 1024, disksMiB: [1024, 512] });
  const ready = await guest.ready;
  note(`storage-1: ready after ${guest.bootMs} ms (kernel ${ready.kernel}, guest uptime ${ready.uptimeSeconds} s)`);
  const started = performance.now();
  await guest.exec(['pvcreate', '-q', '/dev/vda']);
  await guest.exec(['vgcreate', '-q', 'vg0', '/dev/vda']);
  await guest.exec(['lvcreate', '-q', '--type', 'thin-pool', '-L', '256m', '-n', 'thinpool', 'vg0']);
  await guest.exec(['mkfs.ext4', '-q', '-F', '/dev/vdb']);
  await guest.exec(['mkdir', '-p', '/run/filepool']);
  await guest.exec(['mount', '/dev/vdb', '/run/filepool']);
  await guest.exec(['mkdir', '/run/filepool/thin', '/run/filepool/thick']);
  note(`storage-1: VG, thin pool and ext4 set up in ${Math.round(performance.now() - started)} ms`);
}, 420_000);

afterAll(async () => {
  await tearDown(lane, [guest]);
}, 120_000);

describe('the guest', () => {
  it('runs the unpacked Debian kernel, with the device-mapper targets and the in-tree DRBD module loaded', async () => {
    const ready = await g().ready;
    expect(ready.kernel).toBe(lane!.image.kernelRelease);
    expect(ready.drbd).toMatch(/^version: 8\.4\./);
    const targets = (await g().exec(['dmsetup', 'targets'])).stdout;
    expect(targets).toMatch(/^thin-pool\s/m);
    expect(targets).toMatch(/^thin\s/m);
    expect(targets).toMatch(/^linear\s/m);
  });
});

describe('LVM_THIN on a real thin pool', () => {
  const name = 'thinvol_00000';

  it('checks the pool, and refuses a thin pool that does not exist with the property to fix', async () => {
    await g().storage(THIN, 'check');
    const wrong: PoolSpec = { ...THIN, props: { ...THIN.props, 'StorDriver/ThinPool': 'nosuchpool' } };
    await expect(g().storage(wrong, 'check')).rejects.toThrow(/thin pool vg0\/nosuchpool .* does not exist/);
  });

  it('creates a thin volume, writes to it, grows it and deletes it; the capacity report follows the data', async () => {
    const before = await g().storage<Capacity>(THIN, 'capacity');
    // The thin pool's data space (256 MiB), not the VG's.
    expect(before.totalKib).toBe(256n * MiB);

    const created = await g().storage<ActualVolume>(THIN, 'create', { name, sizeKib: 64n * MiB });
    expect(created).toEqual({ name, sizeKib: 64n * MiB, allocatedKib: 0n, devicePath: `/dev/vg0/${name}` });
    expect(await deviceKib(created.devicePath!)).toBe(64n * MiB);
    // Creating a thin volume provisions nothing.
    expect((await g().storage<Capacity>(THIN, 'capacity')).freeKib).toBe(before.freeKib);

    const sum = await writeRandom(created.devicePath!, 16);
    const written = volumeNamed(await g().storage<ActualVolume[]>(THIN, 'list'), name);
    // 16 of 64 MiB: lvs reports data_percent 25.00.
    expect(written).toEqual({ ...created, allocatedKib: 16n * MiB });
    const afterWrite = await g().storage<Capacity>(THIN, 'capacity');
    // The pool's free space shrinks by the 16 MiB written (data_percent has two decimals: 0.01% of 256 MiB = 26 KiB).
    expect(Number(before.freeKib - afterWrite.freeKib)).toBeGreaterThanOrEqual(16 * 1024 - 64);
    expect(Number(before.freeKib - afterWrite.freeKib)).toBeLessThanOrEqual(16 * 1024 + 64);

    const grown = await g().storage<ActualVolume>(THIN, 'resize', { name, sizeKib: 128n * MiB });
    expect(grown).toEqual({ name, sizeKib: 128n * MiB, allocatedKib: 16n * MiB, devicePath: created.devicePath });
    expect(await deviceKib(created.devicePath!)).toBe(128n * MiB);
    expect(await checksum(created.devicePath!, 16)).toBe(sum);
    // Growing the virtual size allocates nothing.
    expect((await g().storage<Capacity>(THIN, 'capacity')).freeKib).toBe(afterWrite.freeKib);

    await g().storage(THIN, 'delete', name);
    expect(volumeNamed(await g().storage<ActualVolume[]>(THIN, 'list'), name)).toBeUndefined();
    await g().exec(['test', '!', '-e', created.devicePath!]);
    // The pool gets the space back (thin deletes free their chunks).
    expect((await g().storage<Capacity>(THIN, 'capacity')).freeKib).toBe(before.freeKib);
  });
});

describe('LVM (thick) on a real volume group', () => {
  const name = 'thickvol_00000';

  it('creates a linear volume, writes to it, grows it and deletes it; the VG capacity follows the allocation', async () => {
    const before = await g().storage<Capacity>(THICK, 'capacity');
    // The VG (1 GiB disk less lvm2's metadata area), of which the 256 MiB thin pool and its metadata are used.
    expect(before.totalKib).toBeGreaterThan(1000n * MiB);
    expect(before.freeKib).toBeLessThan(before.totalKib - 256n * MiB);

    const created = await g().storage<ActualVolume>(THICK, 'create', { name, sizeKib: 64n * MiB });
    expect(created).toEqual({ name, sizeKib: 64n * MiB, allocatedKib: 64n * MiB, devicePath: `/dev/vg0/${name}` });
    expect(await deviceKib(created.devicePath!)).toBe(64n * MiB);
    // 64 MiB = 16 extents of 4 MiB, taken from the VG at once.
    const afterCreate = await g().storage<Capacity>(THICK, 'capacity');
    expect(afterCreate.freeKib).toBe(before.freeKib - 64n * MiB);
    // Only our tagged linear LV is in this pool: neither the thin pool nor thin volumes.
    expect((await g().storage<ActualVolume[]>(THICK, 'list')).map((v) => v.name)).toEqual([name]);

    const sum = await writeRandom(created.devicePath!, 16);
    // A thick volume owns all of its extents whether written or not.
    expect(volumeNamed(await g().storage<ActualVolume[]>(THICK, 'list'), name)).toEqual(created);
    expect((await g().storage<Capacity>(THICK, 'capacity')).freeKib).toBe(afterCreate.freeKib);

    const grown = await g().storage<ActualVolume>(THICK, 'resize', { name, sizeKib: 96n * MiB });
    expect(grown).toEqual({ name, sizeKib: 96n * MiB, allocatedKib: 96n * MiB, devicePath: created.devicePath });
    expect(await deviceKib(created.devicePath!)).toBe(96n * MiB);
    expect(await checksum(created.devicePath!, 16)).toBe(sum);
    expect((await g().storage<Capacity>(THICK, 'capacity')).freeKib).toBe(before.freeKib - 96n * MiB);

    await g().storage(THICK, 'delete', name);
    expect(await g().storage<ActualVolume[]>(THICK, 'list')).toEqual([]);
    await g().exec(['test', '!', '-e', created.devicePath!]);
    expect((await g().storage<Capacity>(THICK, 'capacity')).freeKib).toBe(before.freeKib);
  });
});

describe('FILE_THIN and FILE on ext4 and loop devices', () => {
  it('FILE_THIN: a sparse file grows with the data written through its loop device', async () => {
    const name = 'sparse_00000';
    const before = await g().storage<Capacity>(FILE_THIN, 'capacity');
    const created = await g().storage<ActualVolume>(FILE_THIN, 'create', { name, sizeKib: 64n * MiB });
    expect(created.devicePath).toMatch(/^\/dev\/loop\d+$/);
    expect(created.sizeKib).toBe(64n * MiB);
    expect(created.allocatedKib).toBe(0n);
    expect(await deviceKib(created.devicePath!)).toBe(64n * MiB);

    const sum = await writeRandom(created.devicePath!, 8);
    const written = volumeNamed(await g().storage<ActualVolume[]>(FILE_THIN, 'list'), name)!;
    // st_blocks of the backing file: the 8 MiB written (plus at most an extent tree block or two).
    expect(written.allocatedKib).toBeGreaterThanOrEqual(8n * MiB);
    expect(written.allocatedKib).toBeLessThanOrEqual(8n * MiB + 64n);
    const afterWrite = await g().storage<Capacity>(FILE_THIN, 'capacity');
    expect(Number(before.freeKib - afterWrite.freeKib)).toBeGreaterThanOrEqual(8 * 1024);
    expect(Number(before.freeKib - afterWrite.freeKib)).toBeLessThanOrEqual(8 * 1024 + 256);

    const grown = await g().storage<ActualVolume>(FILE_THIN, 'resize', { name, sizeKib: 96n * MiB });
    expect(grown.sizeKib).toBe(96n * MiB);
    expect(grown.devicePath).toBe(created.devicePath);
    // losetup --set-capacity made the kernel see the new size; the data stayed.
    expect(await deviceKib(created.devicePath!)).toBe(96n * MiB);
    expect(await checksum(created.devicePath!, 8)).toBe(sum);

    await g().storage(FILE_THIN, 'delete', name);
    expect(await g().storage<ActualVolume[]>(FILE_THIN, 'list')).toEqual([]);
    const loops = (await g().exec(['losetup', '--list', '--noheadings', '--output', 'NAME,BACK-FILE'])).stdout;
    expect(loops).not.toContain(`${name}.img`);
    expect((await g().storage<Capacity>(FILE_THIN, 'capacity')).freeKib).toBe(before.freeKib);
  });

  it('FILE: a preallocated file takes its full size at once', async () => {
    const name = 'prealloc_00000';
    const before = await g().storage<Capacity>(FILE, 'capacity');
    const created = await g().storage<ActualVolume>(FILE, 'create', { name, sizeKib: 64n * MiB });
    expect(created).toMatchObject({ name, sizeKib: 64n * MiB, allocatedKib: 64n * MiB });
    expect(await deviceKib(created.devicePath!)).toBe(64n * MiB);
    const afterCreate = await g().storage<Capacity>(FILE, 'capacity');
    // fallocate took the blocks (plus ext4's extent metadata).
    expect(Number(before.freeKib - afterCreate.freeKib)).toBeGreaterThanOrEqual(64 * 1024);
    expect(Number(before.freeKib - afterCreate.freeKib)).toBeLessThanOrEqual(64 * 1024 + 256);

    const sum = await writeRandom(created.devicePath!, 8);
    // Writing into preallocated blocks takes no more space.
    expect(Number(afterCreate.freeKib - (await g().storage<Capacity>(FILE, 'capacity')).freeKib)).toBeLessThanOrEqual(64);

    const grown = await g().storage<ActualVolume>(FILE, 'resize', { name, sizeKib: 96n * MiB });
    expect(grown).toMatchObject({ sizeKib: 96n * MiB, allocatedKib: 96n * MiB, devicePath: created.devicePath });
    expect(await deviceKib(created.devicePath!)).toBe(96n * MiB);
    expect(await checksum(created.devicePath!, 8)).toBe(sum);

    await g().storage(FILE, 'delete', name);
    expect(await g().storage<ActualVolume[]>(FILE, 'list')).toEqual([]);
    expect((await g().storage<Capacity>(FILE, 'capacity')).freeKib).toBe(before.freeKib);
  });
});
