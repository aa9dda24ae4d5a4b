import { afterEach, describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../../../src/common/api-rc.js';
import type { PoolSpec } from '../../../../../../src/satellite/layers/storage/provider.js';
import { ZfsProvider } from '../../../../../../src/satellite/layers/storage/zfs/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';
import { fixture, zfsLines } from './zfs-output.js';

/*
 * Scripted-runner tests (STYLE rule 9): exact argv sequences, failing on unexpected and on unused commands. Answers
 * are the documentation-format samples of zfs-list(8) output in test/fixtures/commands/zfs-*.txt (no ZFS on this
 * machine): tank/pvc-1_00000 is our only thick zvol; pvc-2/pvc-3 are our sparse (ZFS_THIN) zvols; legacy-vm and
 * scratch are not marked as ours; nested/pvc-4_00000 lives in a child dataset.
 */

const POOL: PoolSpec = { name: 'zpool1', providerKind: 'ZFS', props: { 'StorDriver/ZPool': 'tank' } };
const LIST_POOL = ['zfs', 'list', '-Hp', '-o', 'name,used,available', 'tank'];
const LIST_VOLUMES = ['zfs', 'list', '-Hp', '-o', 'name,volsize,used,refer,refreservation,blockplane:managed', '-t', 'volume', '-r', 'tank'];
const VOLUMES = fixture('zfs-list-volumes.txt');
const MISSING = { exitCode: 1, stderr: fixture('zfs-missing-pool.stderr.txt') };
const GiB = 1024n * 1024n;

let runner: FakeCommandRunner;
afterEach(() => runner.assertDone());

function provider(script: FakeCommandRunner, pool: PoolSpec = POOL): ZfsProvider {
  runner = script;
  return new ZfsProvider(pool, { runner });
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

describe('ZfsProvider.check and capacity', () => {
  it('check: zfs list of the pool dataset', async () => {
    await provider(new FakeCommandRunner().expect(LIST_POOL, { stdout: fixture('zfs-list-pool.txt') })).check();
  });

  it('check: a missing pool is named with StorDriver/ZPool', async () => {
    const error = await apiError(provider(new FakeCommandRunner().expect(LIST_POOL, MISSING)).check());
    expect(error.code).toBe(ErrorCode.NOT_FOUND);
    expect(error.message).toBe("The ZFS dataset 'tank' of storage pool 'zpool1' (ZFS) does not exist on this node.");
    expect(error.field).toBe('props["StorDriver/ZPool"]');
    expect(error.correction).toContain('set the property StorDriver/ZPool of storage pool');
  });

  it('check: a pool without StorDriver/ZPool fails before running anything', async () => {
    const error = await apiError(provider(new FakeCommandRunner(), { ...POOL, props: { 'StorDriver/ZPoolThin': 'tank' } }).check());
    expect(error.code).toBe(ErrorCode.INVALID_PROPERTY);
    expect(error.message).toBe(
      "Storage pool 'zpool1' (ZFS) has no property StorDriver/ZPool (the zpool or dataset that holds its zvols).",
    );
  });

  it('capacity: total = used + available, free = available, in KiB', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_POOL, { stdout: fixture('zfs-list-pool.txt') }));
    expect(await p.capacity()).toEqual({ totalKib: 101188824n, freeKib: 97966976n });
  });

  it('works on a dataset inside a zpool, and ignores a trailing slash in the property', async () => {
    const pool = { ...POOL, props: { 'StorDriver/ZPool': 'tank/blockplane/' } };
    const p = provider(new FakeCommandRunner().expect(['zfs', 'list', '-Hp', '-o', 'name,used,available', 'tank/blockplane'], { stdout: 'tank/blockplane\t0\t1024\n' }), pool);
    expect(await p.capacity()).toEqual({ totalKib: 1n, freeKib: 1n });
  });
});

describe('ZfsProvider.list', () => {
  it('lists only marked thick zvols directly below the dataset', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_VOLUMES, { stdout: VOLUMES }));
    expect(await p.list()).toEqual([{ name: 'pvc-1_00000', sizeKib: GiB, allocatedKib: 1081856n, devicePath: '/dev/zvol/tank/pvc-1_00000' }]);
  });

  it('a missing pool gives the readable error', async () => {
    expect((await apiError(provider(new FakeCommandRunner().expect(LIST_VOLUMES, MISSING)).list())).code).toBe(ErrorCode.NOT_FOUND);
  });
});

describe('ZfsProvider.create', () => {
  it('creates a thick zvol marked as ours and reads it back', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'create', '-V', '2097152K', '-o', 'blockplane:managed=yes', 'tank/pvc-9_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES + zfsLines(['tank/pvc-9_00000', 2147483648n, 2214592512n, 57344n, 2214592512n, 'yes']) }),
    );
    expect(await p.create({ name: 'pvc-9_00000', sizeKib: 2n * GiB })).toEqual({
      name: 'pvc-9_00000',
      sizeKib: 2n * GiB,
      allocatedKib: 2214592512n / 1024n,
      devicePath: '/dev/zvol/tank/pvc-9_00000',
    });
  });

  it('is idempotent: an existing zvol of ours that is large enough is returned unchanged', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_VOLUMES, { stdout: VOLUMES }));
    expect((await p.create({ name: 'pvc-1_00000', sizeKib: GiB })).sizeKib).toBe(GiB);
  });

  it('grows an existing zvol of ours that is smaller than asked', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'set', 'volsize=1572864K', 'tank/pvc-1_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES.replace('tank/pvc-1_00000\t1073741824', 'tank/pvc-1_00000\t1610612736') }),
    );
    expect((await p.create({ name: 'pvc-1_00000', sizeKib: (3n * GiB) / 2n })).sizeKib).toBe((3n * GiB) / 2n);
  });

  it('refuses a name taken by an unmarked zvol or by a sparse zvol of a ZFS_THIN pool', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_VOLUMES, { stdout: VOLUMES }).expect(LIST_VOLUMES, { stdout: VOLUMES }));
    const foreign = await apiError(p.create({ name: 'legacy-vm', sizeKib: GiB }));
    expect(foreign.code).toBe(ErrorCode.NOT_ALLOWED);
    expect(foreign.message).toBe(
      "Refusing to create tank/legacy-vm for storage pool 'zpool1': it has no blockplane:managed=yes property, so blockplane did not create it.",
    );
    expect((await apiError(p.create({ name: 'pvc-2_00000', sizeKib: GiB }))).message).toContain(
      'it is a sparse zvol (no refreservation), which belongs to a ZFS_THIN storage pool',
    );
  });

  it('does not mistake a zvol of a child dataset for one of its own', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(['zfs', 'list', '-Hp', '-o', 'name,volsize,used,refer,refreservation,blockplane:managed', '-t', 'volume', '-r', 'tank/nested'], { stdout: 'tank/nested/pvc-4_00000\t1073741824\t1107820544\t57344\t1107820544\tyes\n' }),
      { ...POOL, props: { 'StorDriver/ZPool': 'tank/nested' } },
    );
    expect((await p.list()).map((v) => v.name)).toEqual(['pvc-4_00000']);
    // ...and the pool on "tank" itself does not list it (see the list test above).
  });
});

describe('ZfsProvider.resize and delete', () => {
  it('grows with zfs set volsize (rounded up to 16 KiB), and never shrinks', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'set', 'volsize=1048592K', 'tank/pvc-1_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES.replace('tank/pvc-1_00000\t1073741824', 'tank/pvc-1_00000\t1073758208') })
        .expect(LIST_VOLUMES, { stdout: VOLUMES }),
    );
    expect((await p.resize({ name: 'pvc-1_00000', sizeKib: GiB + 1n })).sizeKib).toBe(GiB + 16n);
    expect((await p.resize({ name: 'pvc-1_00000', sizeKib: GiB / 2n })).sizeKib).toBe(GiB);
  });

  it('resize fails readably for a missing zvol', async () => {
    const error = await apiError(provider(new FakeCommandRunner().expect(LIST_VOLUMES, { stdout: VOLUMES })).resize({ name: 'pvc-9_00000', sizeKib: GiB }));
    expect(error.message).toBe("The zvol tank/pvc-9_00000 of storage pool 'zpool1' does not exist, so it cannot be resized.");
  });

  it('deletes ours, ignores missing ones, refuses foreign ones', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'destroy', 'tank/pvc-1_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(LIST_VOLUMES, { stdout: VOLUMES }),
    );
    await p.delete('pvc-1_00000');
    await p.delete('pvc-9_00000');
    expect((await apiError(p.delete('scratch'))).code).toBe(ErrorCode.NOT_ALLOWED);
    expect((await apiError(p.delete('pvc-3_00000'))).code).toBe(ErrorCode.NOT_ALLOWED);
  });
});
