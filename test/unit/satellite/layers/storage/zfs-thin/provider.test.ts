import { afterEach, describe, expect, it } from '@jest/globals';
import { ApiError, ErrorCode } from '../../../../../../src/common/api-rc.js';
import type { PoolSpec } from '../../../../../../src/satellite/layers/storage/provider.js';
import { ZfsThinProvider } from '../../../../../../src/satellite/layers/storage/zfs-thin/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';
import { fixture, zfsLines } from '../zfs/zfs-output.js';

/*
 * Scripted-runner tests (STYLE rule 9) for ZFS_THIN, on the same documentation-format zfs-list(8) samples as the ZFS
 * tests (no ZFS on this machine): pvc-2_00000 and pvc-3_00000 are our sparse zvols, pvc-1_00000 our thick one.
 */

const POOL: PoolSpec = { name: 'zthin1', providerKind: 'ZFS_THIN', props: { 'StorDriver/ZPoolThin': 'tank' } };
const LIST_POOL = ['zfs', 'list', '-Hp', '-o', 'name,used,available', 'tank'];
const LIST_VOLUMES = ['zfs', 'list', '-Hp', '-o', 'name,volsize,used,refer,refreservation,blockplane:managed', '-t', 'volume', '-r', 'tank'];
const VOLUMES = fixture('zfs-list-volumes.txt');
const GiB = 1024n * 1024n;

let runner: FakeCommandRunner;
afterEach(() => runner.assertDone());

function provider(script: FakeCommandRunner, pool: PoolSpec = POOL): ZfsThinProvider {
  runner = script;
  return new ZfsThinProvider(pool, { runner });
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

describe('ZfsThinProvider', () => {
  it('check: a missing pool is named with StorDriver/ZPoolThin', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_POOL, { exitCode: 1, stderr: fixture('zfs-missing-pool.stderr.txt') }));
    const error = await apiError(p.check());
    expect(error.message).toBe("The ZFS dataset 'tank' of storage pool 'zthin1' (ZFS_THIN) does not exist on this node.");
    expect(error.field).toBe('props["StorDriver/ZPoolThin"]');
  });

  it('check: a pool with only StorDriver/ZPool (the thick property) is told to set StorDriver/ZPoolThin', async () => {
    const error = await apiError(provider(new FakeCommandRunner(), { ...POOL, props: { 'StorDriver/ZPool': 'tank' } }).check());
    expect(error.correction).toBe("Set StorDriver/ZPoolThin on storage pool 'zthin1', e.g. StorDriver/ZPoolThin=tank.");
  });

  it('capacity: used + available and available of the dataset', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_POOL, { stdout: fixture('zfs-list-pool.txt') }));
    expect(await p.capacity()).toEqual({ totalKib: 101188824n, freeKib: 97966976n });
  });

  it('lists only marked sparse zvols, allocated = used (data written)', async () => {
    const p = provider(new FakeCommandRunner().expect(LIST_VOLUMES, { stdout: VOLUMES }));
    expect(await p.list()).toEqual([
      { name: 'pvc-2_00000', sizeKib: 2n * GiB, allocatedKib: 512096n, devicePath: '/dev/zvol/tank/pvc-2_00000' },
      { name: 'pvc-3_00000', sizeKib: GiB / 2n, allocatedKib: 16n, devicePath: '/dev/zvol/tank/pvc-3_00000' },
    ]);
  });

  it('creates a sparse zvol and reads it back; reuses one that is large enough', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'create', '-V', '10485760K', '-s', '-o', 'blockplane:managed=yes', 'tank/pvc-9_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES + zfsLines(['tank/pvc-9_00000', 10737418240n, 8192n, 8192n, 0n, 'yes']) })
        .expect(LIST_VOLUMES, { stdout: VOLUMES }),
    );
    expect(await p.create({ name: 'pvc-9_00000', sizeKib: 10n * GiB })).toEqual({
      name: 'pvc-9_00000',
      sizeKib: 10n * GiB,
      allocatedKib: 8n,
      devicePath: '/dev/zvol/tank/pvc-9_00000',
    });
    expect((await p.create({ name: 'pvc-2_00000', sizeKib: GiB })).sizeKib).toBe(2n * GiB);
  });

  it('grows with zfs set volsize, never shrinks', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'set', 'volsize=4194304K', 'tank/pvc-2_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES.replace('tank/pvc-2_00000\t2147483648', 'tank/pvc-2_00000\t4294967296') })
        .expect(LIST_VOLUMES, { stdout: VOLUMES }),
    );
    expect((await p.resize({ name: 'pvc-2_00000', sizeKib: 4n * GiB })).sizeKib).toBe(4n * GiB);
    expect((await p.resize({ name: 'pvc-3_00000', sizeKib: 16n })).sizeKib).toBe(GiB / 2n);
  });

  it('deletes ours; refuses the thick zvol of a ZFS pool and unmarked zvols; ignores missing ones', async () => {
    const p = provider(
      new FakeCommandRunner()
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(['zfs', 'destroy', 'tank/pvc-3_00000'])
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(LIST_VOLUMES, { stdout: VOLUMES })
        .expect(LIST_VOLUMES, { stdout: VOLUMES }),
    );
    await p.delete('pvc-3_00000');
    const thick = await apiError(p.delete('pvc-1_00000'));
    expect(thick.code).toBe(ErrorCode.NOT_ALLOWED);
    expect(thick.message).toContain('it is a thick zvol (it has a refreservation), which belongs to a ZFS storage pool');
    expect((await apiError(p.delete('scratch'))).message).toContain('has no blockplane:managed=yes property');
    await p.delete('pvc-9_00000');
  });
});
