import { describe, expect, it } from '@jest/globals';
import { ImplementationError } from '../../../../../../src/common/api-rc.js';
import { DisklessProvider } from '../../../../../../src/satellite/layers/storage/diskless/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';

// Lives next to the file provider tests only because this change may not create test/unit/.../storage/diskless/.
describe('DisklessProvider', () => {
  it('has no storage: passes check, reports 0/0, lists nothing, and runs no command for any operation', async () => {
    const runner = new FakeCommandRunner();
    const provider = new DisklessProvider({ name: 'DfltDisklessStorPool', providerKind: 'DISKLESS', props: {} }, { runner });
    await provider.check();
    expect(await provider.capacity()).toEqual({ totalKib: 0n, freeKib: 0n });
    expect(await provider.list()).toEqual([]);
    expect(await provider.create({ name: 'r1_00000', sizeKib: 1024n })).toEqual({ name: 'r1_00000', sizeKib: 0n, allocatedKib: 0n, devicePath: null });
    expect(await provider.resize({ name: 'r1_00000', sizeKib: 2048n })).toEqual({ name: 'r1_00000', sizeKib: 0n, allocatedKib: 0n, devicePath: null });
    await provider.delete('r1_00000');
    expect(await provider.list()).toEqual([]);
    expect(provider.kind).toBe('DISKLESS');
    runner.assertDone();
  });

  it('refuses a pool of another kind', () => {
    expect(() => new DisklessProvider({ name: 'p', providerKind: 'LVM', props: {} })).toThrow(ImplementationError);
  });
});
