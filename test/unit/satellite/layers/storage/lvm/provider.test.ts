import { afterEach, describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../../../src/common/api-rc.js';
import { CommandError } from '../../../../../../src/satellite/exec/command-runner.js';
import { LvmProvider } from '../../../../../../src/satellite/layers/storage/lvm/provider.js';
import type { PoolSpec } from '../../../../../../src/satellite/layers/storage/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';
import { fixture, lvsAfter } from './lvm-report.js';

/*
 * Scripted-runner tests (STYLE rule 9): every test states the exact argv sequence; the runner fails on any other
 * command and afterEach fails on scripted commands that never ran. Answers are the real lvm2 output captured in
 * test/fixtures/commands/ (VG "bpfixture": our pvc-1_00000 100 MiB, pvc-1_00001 12 MiB, the foreign "home" 8 MiB),
 * or that output with the change lvm2 would make (lvsAfter).
 */

const VG = 'bpfixture';
const POOL: PoolSpec = { name: 'pool1', providerKind: 'LVM', props: { 'StorDriver/LvmVg': VG } };
const LVS = ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,vg_name,lv_size,lv_tags,lv_attr,pool_lv,data_percent,metadata_percent', VG];
const VGS = ['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free', VG];
const LVS_THICK = fixture('lvs-thick.json');
const MISSING_VG_STDERR = `  Volume group "${VG}" not found\n  Cannot process volume group ${VG}\n`;
const MiB = 1024n;

let runner: FakeCommandRunner;
afterEach(() => runner.assertDone());

function provider(script: FakeCommandRunner, pool: PoolSpec = POOL, lvmMetadataOnly = false): LvmProvider {
  runner = script;
  return new LvmProvider(pool, { runner, lvmMetadataOnly });
}

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError, but the operation succeeded');
}

describe('LvmProvider.check and capacity', () => {
  it('check: vgs of the VG', async () => {
    await provider(new FakeCommandRunner().expect(VGS, { stdout: fixture('vgs-thick.json') })).check();
  });

  it('check: a missing VG is named together with the property to fix', async () => {
    const p = provider(new FakeCommandRunner().expect(VGS, { exitCode: 5, stdout: fixture('vgs-missing.json'), stderr: MISSING_VG_STDERR }));
    const error = await apiError(p.check());
    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(error.message).toBe("The LVM volume group 'bpfixture' of storage pool 'pool1' (LVM) does not exist on this node.");
    expect(error.field).toBe('props["StorDriver/LvmVg"]');
    expect(error.correction).toContain('set the property StorDriver/LvmVg of storage pool');
  });

  it('check: a pool without StorDriver/LvmVg fails before running anything', async () => {
    const p = provider(new FakeCommandRunner(), { ...POOL, props: {} });
    const error = await apiError(p.check());
    expect(error.code).toBe(ErrorCode.INVALID_PROPERTY);
    expect(error.message).toBe("Storage pool 'pool1' (LVM) has no property StorDriver/LvmVg (the LVM volume group).");
    expect(error.correction).toBe("Set StorDriver/LvmVg on storage pool 'pool1', e.g. StorDriver/LvmVg=vg0.");
  });

  it('check: other vgs failures are passed on as the CommandError naming the command', async () => {
    const p = provider(new FakeCommandRunner().expect(VGS, { exitCode: 3, stderr: '  Some other lvm2 problem\n' }));
    await expect(p.check()).rejects.toBeInstanceOf(CommandError);
  });

  it('capacity: VG size and free space from vgs, in KiB', async () => {
    const p = provider(new FakeCommandRunner().expect(VGS, { stdout: fixture('vgs-thick.json') }));
    expect(await p.capacity()).toEqual({ totalKib: 310378496n / 1024n, freeKib: 184549376n / 1024n });
  });
});

describe('LvmProvider.list', () => {
  it('lists only LVs tagged blockplane, with device paths', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }));
    expect(await p.list()).toEqual([
      { name: 'pvc-1_00000', sizeKib: 100n * MiB, allocatedKib: 100n * MiB, devicePath: '/dev/bpfixture/pvc-1_00000' },
      { name: 'pvc-1_00001', sizeKib: 12n * MiB, allocatedKib: 12n * MiB, devicePath: '/dev/bpfixture/pvc-1_00001' },
    ]);
  });

  it('does not claim the thin pool or thin volumes of an LVM_THIN pool on the same VG, even when tagged', async () => {
    const pool = { ...POOL, props: { 'StorDriver/LvmVg': 'vgthin' } };
    const lvs = [...LVS.slice(0, -1), 'vgthin'];
    const p = provider(new FakeCommandRunner().expect(lvs, { stdout: fixture('lvs-thin-pool.json') }), pool);
    expect((await p.list()).map((v) => v.name)).toEqual(['pvc-6_00000']);
  });

  it('a missing VG gives the readable error', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { exitCode: 5, stdout: fixture('lvs-empty.json'), stderr: MISSING_VG_STDERR }));
    expect((await apiError(p.list())).details).toEqual({ pool: 'pool1', property: 'StorDriver/LvmVg', value: VG });
  });
});

describe('LvmProvider.create', () => {
  it('creates a tagged LV and reads it back (lvm2 rounds to extents)', async () => {
    const created = { lv_name: 'pvc-2_00000', vg_name: VG, lv_size: '12582912', lv_tags: 'blockplane', lv_attr: '-wi-a-----', pool_lv: '', data_percent: '', metadata_percent: '' };
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: LVS_THICK })
        .expect(['lvcreate', '--size', '10240k', '-n', 'pvc-2_00000', '-y', '--wipesignatures', 'y', '--addtag', 'blockplane', VG])
        .expect(LVS, { stdout: lvsAfter(LVS_THICK, { add: [created] }) }),
    );
    expect(await p.create({ name: 'pvc-2_00000', sizeKib: 10n * MiB })).toEqual({
      name: 'pvc-2_00000',
      sizeKib: 12n * MiB,
      allocatedKib: 12n * MiB,
      devicePath: '/dev/bpfixture/pvc-2_00000',
    });
    expect(runner.specs.map((s) => s.purpose)).toEqual([
      'pool1: create volume pvc-2_00000',
      'pool1: create volume pvc-2_00000',
      'pool1: read back volume pvc-2_00000',
    ]);
    expect(runner.specs.every((s) => typeof s.timeoutMs === 'number' && s.timeoutMs > 0)).toBe(true);
  });

  it('is idempotent: an existing LV of ours that is large enough is returned unchanged', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }));
    expect(await p.create({ name: 'pvc-1_00000', sizeKib: 64n * MiB })).toEqual({
      name: 'pvc-1_00000',
      sizeKib: 100n * MiB,
      allocatedKib: 100n * MiB,
      devicePath: '/dev/bpfixture/pvc-1_00000',
    });
  });

  it('grows an existing LV of ours that is smaller than asked', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: LVS_THICK })
        .expect(['lvextend', '--size', '16384k', 'bpfixture/pvc-1_00001'])
        .expect(LVS, { stdout: lvsAfter(LVS_THICK, { update: { 'pvc-1_00001': { lv_size: '16777216' } } }) }),
    );
    expect((await p.create({ name: 'pvc-1_00001', sizeKib: 16n * MiB })).sizeKib).toBe(16n * MiB);
  });

  it('refuses when an LV of that name exists without our tag', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }));
    const error = await apiError(p.create({ name: 'home', sizeKib: 8n * MiB }));
    expect(error.code).toBe(ErrorCode.NOT_ALLOWED);
    expect(error.message).toBe(
      "Refusing to create bpfixture/home for storage pool 'pool1': the LV has no 'blockplane' tag, so blockplane did not create it.",
    );
  });

  it('refuses a size of 0 without running anything', async () => {
    const error = await apiError(provider(new FakeCommandRunner()).create({ name: 'pvc-2_00000', sizeKib: 0n }));
    expect(error.code).toBe(ErrorCode.INVALID_SIZE);
  });
});

describe('LvmProvider.resize', () => {
  it('grows with lvextend and reports the new size', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: LVS_THICK })
        .expect(['lvextend', '--size', '204800k', 'bpfixture/pvc-1_00000'])
        .expect(LVS, { stdout: lvsAfter(LVS_THICK, { update: { 'pvc-1_00000': { lv_size: '209715200' } } }) }),
    );
    expect((await p.resize({ name: 'pvc-1_00000', sizeKib: 200n * MiB })).sizeKib).toBe(200n * MiB);
  });

  it('never shrinks: a smaller or equal size is a no-op', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }).expect(LVS, { stdout: LVS_THICK }));
    expect((await p.resize({ name: 'pvc-1_00000', sizeKib: 50n * MiB })).sizeKib).toBe(100n * MiB);
    expect((await p.resize({ name: 'pvc-1_00000', sizeKib: 100n * MiB })).sizeKib).toBe(100n * MiB);
  });

  it('fails readably for a missing LV and refuses a foreign one', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }).expect(LVS, { stdout: LVS_THICK }));
    expect((await apiError(p.resize({ name: 'pvc-9_00000', sizeKib: MiB }))).code).toBe(ErrorCode.NOT_FOUND);
    expect((await apiError(p.resize({ name: 'home', sizeKib: 16n * MiB }))).code).toBe(ErrorCode.NOT_ALLOWED);
  });
});

describe('LvmProvider.delete', () => {
  it('removes an LV of ours', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK }).expect(['lvremove', '-f', 'bpfixture/pvc-1_00001']));
    await p.delete('pvc-1_00001');
  });

  it('is a no-op when the LV does not exist', async () => {
    await provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK })).delete('pvc-9_00000');
  });

  it('refuses an LV without our tag', async () => {
    const error = await apiError(provider(new FakeCommandRunner().expect(LVS, { stdout: LVS_THICK })).delete('home'));
    expect(error.code).toBe(ErrorCode.NOT_ALLOWED);
    expect(error.message).toContain('Refusing to delete bpfixture/home');
    expect(error.correction).toBe('blockplane only changes LVs it created in this pool; manage bpfixture/home by hand.');
  });

  it('refuses a tagged thin volume of an LVM_THIN pool on the same VG', async () => {
    const pool = { ...POOL, props: { 'StorDriver/LvmVg': 'vgthin' } };
    const p = provider(new FakeCommandRunner().expect([...LVS.slice(0, -1), 'vgthin'], { stdout: fixture('lvs-thin-pool.json') }), pool);
    expect((await apiError(p.delete('pvc-7_00000'))).message).toContain('it is a thin LV, which belongs to an LVM_THIN storage pool');
  });
});

describe('LvmProvider in metadata-only mode (tests on hosts without device-mapper)', () => {
  it('passes --driverloaded n to every command and reports no device path', async () => {
    const lvs = ['lvs', '--driverloaded', 'n', ...LVS.slice(1)];
    const created = { lv_name: 'pvc-2_00000', vg_name: VG, lv_size: '4194304', lv_tags: 'blockplane', lv_attr: '-wi-XX----', pool_lv: '', data_percent: '', metadata_percent: '' };
    const withCreated = lvsAfter(LVS_THICK, { add: [created] });
    const p = provider(
      new FakeCommandRunner()
        .expect(['vgs', '--driverloaded', 'n', ...VGS.slice(1)], { stdout: fixture('vgs-thick.json') })
        .expect(lvs, { stdout: LVS_THICK })
        .expect(['lvcreate', '--driverloaded', 'n', '--size', '4096k', '-n', 'pvc-2_00000', '-y', '--wipesignatures', 'y', '--addtag', 'blockplane', VG])
        .expect(lvs, { stdout: withCreated })
        .expect(lvs, { stdout: withCreated })
        .expect(['lvextend', '--driverloaded', 'n', '--size', '8192k', 'bpfixture/pvc-2_00000'])
        .expect(lvs, { stdout: lvsAfter(LVS_THICK, { add: [{ ...created, lv_size: '8388608' }] }) })
        .expect(lvs, { stdout: withCreated })
        .expect(['lvremove', '--driverloaded', 'n', '-f', 'bpfixture/pvc-2_00000']),
      POOL,
      true,
    );
    await p.check();
    expect(await p.create({ name: 'pvc-2_00000', sizeKib: 4n * MiB })).toEqual({
      name: 'pvc-2_00000',
      sizeKib: 4n * MiB,
      allocatedKib: 4n * MiB,
      devicePath: null,
    });
    expect((await p.resize({ name: 'pvc-2_00000', sizeKib: 8n * MiB })).devicePath).toBeNull();
    await p.delete('pvc-2_00000');
  });
});
