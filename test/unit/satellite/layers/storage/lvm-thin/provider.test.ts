import { afterEach, describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../../../src/common/api-rc.js';
import { LvmThinProvider } from '../../../../../../src/satellite/layers/storage/lvm-thin/provider.js';
import type { PoolSpec } from '../../../../../../src/satellite/layers/storage/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';
import { fixture, lvsAfter } from '../lvm/lvm-report.js';

/*
 * Scripted-runner tests (STYLE rule 9): exact argv sequences, failing on unexpected and on unused commands. The
 * answers come from lvs-thin-pool.json, which is hand-assembled in lvm2's JSON report format because thin pools need
 * device-mapper (see lvm-fixtures.md): VG vgthin, thin pool "thinpool" (10 GiB, 25.54 % used) holding our pvc-7_00000,
 * pvc-8_00000, pvc-9_00000 (inactive) and the untagged "scratch"; decoys pvc-5_00000 (ours, other thin pool) and
 * pvc-6_00000 (ours, thick).
 */

const POOL: PoolSpec = { name: 'thin1', providerKind: 'LVM_THIN', props: { 'StorDriver/LvmVg': 'vgthin', 'StorDriver/ThinPool': 'thinpool' } };
const LVS = ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,vg_name,lv_size,lv_tags,lv_attr,pool_lv,data_percent,metadata_percent', 'vgthin'];
const REPORT = fixture('lvs-thin-pool.json');
const GiB = 1024n * 1024n;

let runner: FakeCommandRunner;
afterEach(() => runner.assertDone());

function provider(script: FakeCommandRunner, pool: PoolSpec = POOL, lvmMetadataOnly = false): LvmThinProvider {
  runner = script;
  return new LvmThinProvider(pool, { runner, lvmMetadataOnly });
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

const thinRow = (name: string, size: string, dataPercent: string) => ({
  lv_name: name,
  vg_name: 'vgthin',
  lv_size: size,
  lv_tags: 'blockplane',
  lv_attr: 'Vwi-a-tz--',
  pool_lv: 'thinpool',
  data_percent: dataPercent,
  metadata_percent: '',
});

describe('LvmThinProvider.check and capacity', () => {
  it('check: one lvs of the VG finds the thin pool', async () => {
    await provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT })).check();
  });

  it('check: a missing thin pool is named with StorDriver/ThinPool', async () => {
    const pool = { ...POOL, props: { ...POOL.props, 'StorDriver/ThinPool': 'nopool' } };
    const error = await apiError(provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }), pool).check());
    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(error.message).toBe("The thin pool vgthin/nopool of storage pool 'thin1' (LVM_THIN) does not exist on this node.");
    expect(error.field).toBe('props["StorDriver/ThinPool"]');
    expect(error.correction).toContain('lvcreate -l 100%FREE -T vgthin/nopool');
  });

  it('check: an LV that is not a thin pool is refused', async () => {
    const pool = { ...POOL, props: { ...POOL.props, 'StorDriver/ThinPool': 'pvc-6_00000' } };
    const error = await apiError(provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }), pool).check());
    expect(error.message).toBe("The LV vgthin/pvc-6_00000 named by StorDriver/ThinPool of storage pool 'thin1' (LVM_THIN) is not a thin pool (lv_attr '-wi-a-----').");
  });

  it('check: a missing VG is named with StorDriver/LvmVg', async () => {
    const stderr = '  Volume group "vgthin" not found\n  Cannot process volume group vgthin\n';
    const error = await apiError(provider(new FakeCommandRunner().expect(LVS, { exitCode: 5, stdout: fixture('lvs-empty.json'), stderr })).check());
    expect(error.message).toBe("The LVM volume group 'vgthin' of storage pool 'thin1' (LVM_THIN) does not exist on this node.");
  });

  it('check: a pool without StorDriver/ThinPool fails before running anything', async () => {
    const pool = { ...POOL, props: { 'StorDriver/LvmVg': 'vgthin' } };
    const error = await apiError(provider(new FakeCommandRunner(), pool).check());
    expect(error.message).toBe("Storage pool 'thin1' (LVM_THIN) has no property StorDriver/ThinPool (the thin pool LV inside the volume group).");
    expect(error.correction).toBe("Set StorDriver/ThinPool on storage pool 'thin1', e.g. StorDriver/ThinPool=thinpool.");
  });

  it('capacity: thin pool size, and size x unused data %', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }));
    expect(await p.capacity()).toEqual({ totalKib: 10n * GiB, freeKib: 7807696n });
  });

  it('capacity: an inactive pool is an error, not a made-up number', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: fixture('lvs-thin-pool-inactive.json') }));
    await expect(p.capacity()).rejects.toThrow('activate it with lvchange -ay vgthin/thinpool');
  });
});

describe('LvmThinProvider.list', () => {
  it('lists only tagged thin volumes of this thin pool, with allocated space from data_percent', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }));
    expect(await p.list()).toEqual([
      { name: 'pvc-7_00000', sizeKib: 4n * GiB, allocatedKib: 2188587n, devicePath: '/dev/vgthin/pvc-7_00000' },
      { name: 'pvc-8_00000', sizeKib: 2n * GiB, allocatedKib: 0n, devicePath: '/dev/vgthin/pvc-8_00000' },
      { name: 'pvc-9_00000', sizeKib: GiB, allocatedKib: 0n, devicePath: '/dev/vgthin/pvc-9_00000' },
    ]);
  });
});

describe('LvmThinProvider.create, resize, delete', () => {
  it('creates a tagged thin volume in the thin pool and reads it back', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: REPORT })
        .expect(['lvcreate', '-V', '3145728k', '-T', 'vgthin/thinpool', '-n', 'pvc-10_00000', '--addtag', 'blockplane'])
        .expect(LVS, { stdout: lvsAfter(REPORT, { add: [thinRow('pvc-10_00000', '3221225472', '0.00')] }) }),
    );
    expect(await p.create({ name: 'pvc-10_00000', sizeKib: 3n * GiB })).toEqual({
      name: 'pvc-10_00000',
      sizeKib: 3n * GiB,
      allocatedKib: 0n,
      devicePath: '/dev/vgthin/pvc-10_00000',
    });
  });

  it('reuses an existing thin volume of ours that is large enough', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }));
    expect((await p.create({ name: 'pvc-7_00000', sizeKib: 4n * GiB })).allocatedKib).toBe(2188587n);
  });

  it('refuses names taken by an untagged LV, a thin volume of another thin pool, or a thick LV', async () => {
    const p = provider(new FakeCommandRunner().expect(LVS, { stdout: REPORT }).expect(LVS, { stdout: REPORT }).expect(LVS, { stdout: REPORT }));
    expect((await apiError(p.create({ name: 'scratch', sizeKib: GiB }))).message).toContain("has no 'blockplane' tag");
    expect((await apiError(p.create({ name: 'pvc-5_00000', sizeKib: GiB }))).message).toContain(
      "it is a thin volume of thin pool 'otherpool', not of 'thinpool'",
    );
    expect((await apiError(p.create({ name: 'pvc-6_00000', sizeKib: GiB }))).message).toContain('it is not a thin volume');
  });

  it('grows the virtual size with lvextend, never shrinks', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: REPORT })
        .expect(['lvextend', '--size', '4194304k', 'vgthin/pvc-8_00000'])
        .expect(LVS, { stdout: lvsAfter(REPORT, { update: { 'pvc-8_00000': { lv_size: '4294967296' } } }) })
        .expect(LVS, { stdout: REPORT }),
    );
    expect((await p.resize({ name: 'pvc-8_00000', sizeKib: 4n * GiB })).sizeKib).toBe(4n * GiB);
    expect((await p.resize({ name: 'pvc-7_00000', sizeKib: GiB })).sizeKib).toBe(4n * GiB);
  });

  it('deletes ours, ignores missing ones, refuses foreign ones', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LVS, { stdout: REPORT })
        .expect(['lvremove', '-f', 'vgthin/pvc-7_00000'])
        .expect(LVS, { stdout: REPORT })
        .expect(LVS, { stdout: REPORT })
        .expect(LVS, { stdout: REPORT }),
    );
    await p.delete('pvc-7_00000');
    await p.delete('pvc-11_00000');
    expect((await apiError(p.delete('scratch'))).code).toBe(ErrorCode.NOT_ALLOWED);
    expect((await apiError(p.delete('pvc-5_00000'))).code).toBe(ErrorCode.NOT_ALLOWED);
  });

  it('metadata-only mode adds --driverloaded n and reports no device path', async () => {
    const lvs = ['lvs', '--driverloaded', 'n', ...LVS.slice(1)];
    const p = provider(
      new FakeCommandRunner()
        .expect(lvs, { stdout: REPORT })
        .expect(['lvcreate', '--driverloaded', 'n', '-V', '1048576k', '-T', 'vgthin/thinpool', '-n', 'pvc-10_00000', '--addtag', 'blockplane'])
        .expect(lvs, { stdout: lvsAfter(REPORT, { add: [thinRow('pvc-10_00000', '1073741824', '')] }) }),
      POOL,
      true,
    );
    expect((await p.create({ name: 'pvc-10_00000', sizeKib: GiB })).devicePath).toBeNull();
  });
});
