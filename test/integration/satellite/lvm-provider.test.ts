import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiError, ErrorCode } from '../../../src/common/api-rc.js';
import { CommandError, ExecaCommandRunner } from '../../../src/satellite/exec/command-runner.js';
import { lvsCommand } from '../../../src/satellite/layers/storage/lvm/commands.js';
import { parseLvsReport } from '../../../src/satellite/layers/storage/lvm/parse.js';
import { LvmProvider } from '../../../src/satellite/layers/storage/lvm/provider.js';
import type { PoolSpec } from '../../../src/satellite/layers/storage/provider.js';

/**
 * LvmProvider against real lvm2 on a loop device, through the production ExecaCommandRunner.
 *
 * This machine has no device-mapper, so the provider runs with `lvmMetadataOnly: true`: every command it issues
 * (lvs, vgs, lvcreate, lvextend, lvremove) carries the global option `--driverloaded n` and is METADATA-ONLY: lvm2
 * reads and rewrites the VG metadata on the PV, but activates nothing, creates no /dev/VG/LV device and writes no
 * data into the LVs (no signature wiping, no zeroing). That is why devicePath is null here and why this test cannot
 * show that an LV is usable as a block device; it does show that our argv are accepted by lvm2 2.03, that the JSON
 * parsers read what lvm2 prints, and that tags, extent rounding, growth and removal behave as the provider expects.
 * Test setup and cleanup (pvcreate, vgcreate, vgremove -f, pvremove, losetup) only write PV labels and VG metadata,
 * which needs no device-mapper either.
 *
 * The VG name is unique per run, and cleanup in afterAll runs after failures too.
 */

const MiB = 1024n;
const runner = new ExecaCommandRunner();
const commands: { argv: readonly string[]; durationMs: number }[] = [];
const recordingRunner = new ExecaCommandRunner({
  onCommand: (result) => {
    if (!(result instanceof CommandError)) commands.push({ argv: result.argv, durationMs: result.durationMs });
  },
});

const vg = `bpit_${process.pid}_${Date.now().toString(36)}`;
let dir = '';
let loop = '';
let vgCreated = false;
let provider: LvmProvider;

const pool = (vgName: string): PoolSpec => ({ name: 'lvm-it', providerKind: 'LVM', props: { 'StorDriver/LvmVg': vgName } });

/** Names of all LVs in the VG as lvm2 reports them, ours or not (read independently of the provider). */
async function allLvNames(): Promise<string[]> {
  const result = await runner.run({ argv: lvsCommand(vg, { metadataOnly: true }) });
  return parseLvsReport(result.stdout).map((lv) => lv.name);
}

/** The lvm2 commands the provider ran since `mark`, without the program's global options. */
function commandsSince(mark: number): string[] {
  return commands.slice(mark).map((c) => c.argv[0]!);
}

beforeAll(async () => {
  // Never skip: a missing lvm2 must fail this test with the command that fixes it.
  try {
    await runner.run({ argv: ['lvm', 'version'] });
  } catch (error) {
    throw new Error(
      `The LVM integration test needs lvm2 (lvm, pvcreate, vgcreate, lvcreate, ...), which is not usable here: ${(error as Error).message}. ` +
        'Install it with: apt-get install -y lvm2',
    );
  }
  dir = await mkdtemp(path.join(tmpdir(), 'bp-lvm-it-'));
  const image = path.join(dir, 'pv.img');
  await writeFile(image, '');
  await truncate(image, 128 * 1024 * 1024);
  loop = (await runner.run({ argv: ['losetup', '-f', '--show', image], purpose: 'attach the PV image (needs root)' })).stdout.trim();
  await runner.run({ argv: ['pvcreate', '-q', loop] });
  await runner.run({ argv: ['vgcreate', '-q', vg, loop] });
  vgCreated = true;
  provider = new LvmProvider(pool(vg), { runner: recordingRunner, lvmMetadataOnly: true });
});

afterAll(async () => {
  // Always, also after failures; each step on its own so that one failing step does not leave the rest behind.
  if (vgCreated) await runner.run({ argv: ['vgremove', '-f', vg] }).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  if (loop) {
    await runner.run({ argv: ['pvremove', '-y', '-q', loop] }).catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await runner.run({ argv: ['losetup', '-d', loop] }).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('LvmProvider on real lvm2 (metadata-only, --driverloaded n)', () => {
  let totalKib = 0n;

  it('check() accepts the VG and names a missing VG and the property to fix', async () => {
    await provider.check();
    const missing = new LvmProvider(pool(`${vg}_missing`), { runner, lvmMetadataOnly: true });
    const error = await missing.check().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(ErrorCode.NOT_FOUND);
    expect((error as ApiError).message).toBe(`The LVM volume group '${vg}_missing' of storage pool 'lvm-it' (LVM) does not exist on this node.`);
    expect((error as ApiError).field).toBe('props["StorDriver/LvmVg"]');
  });

  it('capacity() of the empty VG: everything free', async () => {
    const capacity = await provider.capacity();
    totalKib = capacity.totalKib;
    // 128 MiB PV minus lvm2's metadata area, in whole 4 MiB extents.
    expect(totalKib).toBeGreaterThan(100n * MiB);
    expect(totalKib % (4n * MiB)).toBe(0n);
    expect(capacity.freeKib).toBe(totalKib);
    expect(await provider.list()).toEqual([]);
  });

  it('create() makes a tagged LV, rounded up to whole extents, and capacity() drops by its size', async () => {
    const created = await provider.create({ name: 'pvc-it_00000', sizeKib: 10n * MiB });
    expect(created).toEqual({ name: 'pvc-it_00000', sizeKib: 12n * MiB, allocatedKib: 12n * MiB, devicePath: null });
    expect(await provider.capacity()).toEqual({ totalKib, freeKib: totalKib - 12n * MiB });
  });

  it('create() again is idempotent: no lvcreate, same volume', async () => {
    const mark = commands.length;
    expect(await provider.create({ name: 'pvc-it_00000', sizeKib: 10n * MiB })).toEqual({
      name: 'pvc-it_00000',
      sizeKib: 12n * MiB,
      allocatedKib: 12n * MiB,
      devicePath: null,
    });
    expect(commandsSince(mark)).toEqual(['lvs']);
  });

  it('a foreign LV (created without our tag) is not listed and cannot be deleted or reused', async () => {
    await runner.run({ argv: ['lvcreate', '--driverloaded', 'n', '--size', '8m', '-n', 'foreign', vg] });
    expect((await provider.list()).map((v) => v.name)).toEqual(['pvc-it_00000']);

    const refused = await provider.delete('foreign').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe(ErrorCode.NOT_ALLOWED);
    expect((refused as ApiError).message).toContain(`Refusing to delete ${vg}/foreign`);
    await expect(provider.create({ name: 'foreign', sizeKib: 8n * MiB })).rejects.toThrow(`Refusing to create ${vg}/foreign`);
    expect(await allLvNames()).toEqual(['foreign', 'pvc-it_00000']);
    expect((await provider.capacity()).freeKib).toBe(totalKib - 20n * MiB);
  });

  it('resize() grows (rounded to extents) and never shrinks', async () => {
    expect(await provider.resize({ name: 'pvc-it_00000', sizeKib: 18n * MiB })).toEqual({
      name: 'pvc-it_00000',
      sizeKib: 20n * MiB,
      allocatedKib: 20n * MiB,
      devicePath: null,
    });
    expect((await provider.capacity()).freeKib).toBe(totalKib - 28n * MiB);

    const mark = commands.length;
    expect((await provider.resize({ name: 'pvc-it_00000', sizeKib: 4n * MiB })).sizeKib).toBe(20n * MiB);
    expect(commandsSince(mark)).toEqual(['lvs']);
  });

  it('delete() removes our LV, leaves the foreign one, and is a no-op the second time', async () => {
    await provider.delete('pvc-it_00000');
    expect(await provider.list()).toEqual([]);
    expect(await allLvNames()).toEqual(['foreign']);
    expect((await provider.capacity()).freeKib).toBe(totalKib - 8n * MiB);

    const mark = commands.length;
    await provider.delete('pvc-it_00000');
    expect(commandsSince(mark)).toEqual(['lvs']);
  });

  it('ran every provider command with --driverloaded n', () => {
    expect(commands.length).toBeGreaterThan(10);
    for (const { argv } of commands) expect(argv.slice(1, 3)).toEqual(['--driverloaded', 'n']);
  });
});
