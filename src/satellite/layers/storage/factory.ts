import type { ProviderKind } from '../../../common/vocabulary.js';
import { DisklessProvider } from './diskless/provider.js';
import { FileProvider, FileThinProvider } from './file/provider.js';
import { LvmProvider } from './lvm/provider.js';
import { LvmThinProvider } from './lvm-thin/provider.js';
import type { PoolSpec, ProviderOptions, StorageProvider } from './provider.js';
import { ZfsProvider } from './zfs/provider.js';
import { ZfsThinProvider } from './zfs-thin/provider.js';

type ProviderConstructor = new (pool: PoolSpec, options: ProviderOptions) => StorageProvider;

// A Record over ProviderKind, so adding a kind to the vocabulary fails to compile until it has a provider here.
const PROVIDERS: Record<ProviderKind, ProviderConstructor> = {
  DISKLESS: DisklessProvider,
  LVM: LvmProvider,
  LVM_THIN: LvmThinProvider,
  ZFS: ZfsProvider,
  ZFS_THIN: ZfsThinProvider,
  FILE: FileProvider,
  FILE_THIN: FileThinProvider,
};

/**
 * The storage provider for `pool`, chosen by its `providerKind`. Constructing one runs no command and does not
 * validate the pool's properties; call `check()` for that, so a misconfigured pool still yields a provider whose
 * check() explains the problem.
 */
export function createProvider(pool: PoolSpec, options: ProviderOptions): StorageProvider {
  return new PROVIDERS[pool.providerKind](pool, options);
}
