import type { ProviderKind } from './vocabulary.js';

/** Properties a storage pool of each provider kind must have (how the satellite finds its backing storage). */
export const REQUIRED_POOL_PROPS: Record<ProviderKind, readonly string[]> = {
  DISKLESS: [],
  LVM: ['StorDriver/LvmVg'],
  LVM_THIN: ['StorDriver/LvmVg', 'StorDriver/ThinPool'],
  ZFS: ['StorDriver/ZPool'],
  ZFS_THIN: ['StorDriver/ZPoolThin'],
  FILE: ['StorDriver/FileDir'],
  FILE_THIN: ['StorDriver/FileDir'],
};

/** Example values, used in error messages that ask for a missing property. */
export const POOL_PROP_EXAMPLES: Record<string, string> = {
  'StorDriver/LvmVg': 'vg0',
  'StorDriver/ThinPool': 'thinpool',
  'StorDriver/ZPool': 'tank',
  'StorDriver/ZPoolThin': 'tank',
  'StorDriver/FileDir': '/var/lib/blockplane/pool1',
};

/** Thin providers allocate on write and may be oversubscribed. */
export const THIN_PROVIDERS: readonly ProviderKind[] = ['LVM_THIN', 'ZFS_THIN', 'FILE_THIN'];
