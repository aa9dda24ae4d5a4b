import { describe, expect, it } from '@jest/globals';
import { PROVIDER_KINDS } from '../../../../../src/common/vocabulary.js';
import { DisklessProvider } from '../../../../../src/satellite/layers/storage/diskless/provider.js';
import { FileProvider, FileThinProvider } from '../../../../../src/satellite/layers/storage/file/provider.js';
import { createProvider } from '../../../../../src/satellite/layers/storage/factory.js';
import { LvmProvider } from '../../../../../src/satellite/layers/storage/lvm/provider.js';
import { LvmThinProvider } from '../../../../../src/satellite/layers/storage/lvm-thin/provider.js';
import { ZfsProvider } from '../../../../../src/satellite/layers/storage/zfs/provider.js';
import { ZfsThinProvider } from '../../../../../src/satellite/layers/storage/zfs-thin/provider.js';
import { FakeCommandRunner } from '../../../../fakes/fake-command-runner.js';

// Lives next to the file provider tests only because this change may not create test/unit/.../storage/ files elsewhere.
describe('createProvider', () => {
  it.each([
    ['DISKLESS', DisklessProvider],
    ['LVM', LvmProvider],
    ['LVM_THIN', LvmThinProvider],
    ['ZFS', ZfsProvider],
    ['ZFS_THIN', ZfsThinProvider],
    ['FILE', FileProvider],
    ['FILE_THIN', FileThinProvider],
  ] as const)('builds the %s provider without running anything', (providerKind, expected) => {
    const runner = new FakeCommandRunner();
    const pool = { name: 'p1', providerKind, props: {} };
    const provider = createProvider(pool, { runner });
    expect(provider).toBeInstanceOf(expected);
    expect(provider.kind).toBe(providerKind);
    expect(provider.pool).toBe(pool);
    runner.assertDone();
  });

  it('covers every provider kind of the vocabulary', () => {
    for (const providerKind of PROVIDER_KINDS) {
      expect(createProvider({ name: 'p1', providerKind, props: {} }, { runner: new FakeCommandRunner() }).kind).toBe(providerKind);
    }
  });
});
