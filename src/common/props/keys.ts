import { ApiError, ErrorCode } from '../api-rc.js';

/**
 * Property keys: LINSTOR's namespaced string->string properties, with a whitelist per object kind. `Aux/` keys are
 * free-form user labels (used by placement: replicas-on-same/different); everything else must be a known key or
 * live in a namespace the object accepts, so a typo is refused instead of silently doing nothing.
 */

/** The objects that carry properties. */
export const PROPS_OWNERS = [
  'controller',
  'node',
  'storagePool',
  'resourceGroup',
  'volumeGroup',
  'resourceDefinition',
  'volumeDefinition',
  'resource',
  'volume',
] as const;
export type PropsOwner = (typeof PROPS_OWNERS)[number];

export type Props = Record<string, string>;

type ValueCheck = (value: string) => string | undefined;

const bool: ValueCheck = (v) => (v === 'true' || v === 'false' ? undefined : "expected 'true' or 'false'");
const positiveNumber: ValueCheck = (v) =>
  /^\d+(\.\d+)?$/.test(v) && Number(v) > 0 ? undefined : 'expected a positive number such as 1.5';
const nonNegativeNumber: ValueCheck = (v) =>
  /^\d+(\.\d+)?$/.test(v) ? undefined : 'expected a number >= 0 such as 1';
const nonEmpty: ValueCheck = (v) => (v.length > 0 ? undefined : 'expected a non-empty value');
const absolutePath: ValueCheck = (v) => (v.startsWith('/') ? undefined : 'expected an absolute path');
const oneOf =
  (...values: string[]): ValueCheck =>
  (v) =>
    values.includes(v) ? undefined : `expected one of ${values.join(', ')}`;
const portRange: ValueCheck = (v) => {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m) return "expected a range like '7000-7999'";
  const [lo, hi] = [Number(m[1]), Number(m[2])];
  return lo >= 1 && hi <= 65535 && lo <= hi ? undefined : 'expected 1 <= low <= high <= 65535';
};
const minorRange: ValueCheck = (v) => {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m) return "expected a range like '1000-49999'";
  const [lo, hi] = [Number(m[1]), Number(m[2])];
  return hi <= 2 ** 20 - 1 && lo <= hi ? undefined : 'expected low <= high <= 1048575';
};

interface KeyRule {
  /** Exact key, or a namespace prefix ending in '/'. */
  key: string;
  owners: readonly PropsOwner[];
  check?: ValueCheck;
  doc: string;
}

const ALL: readonly PropsOwner[] = PROPS_OWNERS;
/** DRBD options apply wherever a resource's configuration is resolved: everything but storage pools. */
const DRBD_OWNERS: readonly PropsOwner[] = PROPS_OWNERS.filter((o) => o !== 'storagePool');
const RATIO_OWNERS: readonly PropsOwner[] = ['controller', 'storagePool'];

/** The whitelist. Exact keys are checked before namespaces. */
export const KEY_RULES: readonly KeyRule[] = [
  { key: 'Aux/', owners: ALL, doc: 'Free-form user labels (e.g. Aux/site=a), used by placement filters.' },
  { key: 'StorDriver/LvmVg', owners: ['storagePool'], check: nonEmpty, doc: 'LVM volume group of an LVM or LVM_THIN pool.' },
  { key: 'StorDriver/ThinPool', owners: ['storagePool'], check: nonEmpty, doc: 'Thin pool LV of an LVM_THIN pool.' },
  { key: 'StorDriver/ZPool', owners: ['storagePool'], check: nonEmpty, doc: 'ZFS pool or dataset of a ZFS pool.' },
  { key: 'StorDriver/ZPoolThin', owners: ['storagePool'], check: nonEmpty, doc: 'ZFS pool or dataset of a ZFS_THIN pool.' },
  { key: 'StorDriver/FileDir', owners: ['storagePool'], check: absolutePath, doc: 'Directory of a FILE or FILE_THIN pool.' },
  { key: 'StorDriver/LvcreateType', owners: ['storagePool'], check: nonEmpty, doc: 'lvcreate --type (linear, striped, raid1...).' },
  { key: 'StorDriver/LvcreateOptions', owners: ['storagePool', 'resourceGroup', 'resourceDefinition', 'volumeDefinition'], doc: 'Extra lvcreate arguments.' },
  { key: 'StorDriver/ZfscreateOptions', owners: ['storagePool', 'resourceGroup', 'resourceDefinition', 'volumeDefinition'], doc: 'Extra zfs create arguments.' },
  { key: 'StorDriver/SizesCacheTime', owners: ['controller', 'storagePool'], check: nonNegativeNumber, doc: 'Seconds a capacity report may be reused.' },
  { key: 'StorDriver/WaitTimeoutAfterCreate', owners: ['controller', 'storagePool'], check: nonNegativeNumber, doc: 'Milliseconds to wait for a new device node.' },
  { key: 'MaxOversubscriptionRatio', owners: RATIO_OWNERS, check: positiveNumber, doc: 'Thin oversubscription ratio (default 20 for thin pools).' },
  { key: 'MaxFreeCapacityOversubscriptionRatio', owners: RATIO_OWNERS, check: positiveNumber, doc: 'Oversubscription of free capacity.' },
  { key: 'MaxTotalCapacityOversubscriptionRatio', owners: RATIO_OWNERS, check: positiveNumber, doc: 'Oversubscription of total capacity.' },
  { key: 'AutoplaceTarget', owners: ['node', 'storagePool'], check: bool, doc: "'false' keeps the autoplacer away from this node or pool." },
  { key: 'Site', owners: ['node'], check: nonEmpty, doc: 'Site of the node (DRBD proxy between sites).' },
  { key: 'PrefNic', owners: ['node', 'storagePool', 'resourceGroup', 'resourceDefinition', 'resource'], check: nonEmpty, doc: 'Net interface DRBD should use.' },
  { key: 'StorPoolName', owners: ['resourceGroup', 'resourceDefinition', 'volumeDefinition', 'resource'], check: nonEmpty, doc: 'Storage pool to use for new volumes.' },
  { key: 'TcpPortAutoRange', owners: ['controller', 'node'], check: portRange, doc: 'DRBD TCP port range (default 7000-7999).' },
  { key: 'MinorNrAutoRange', owners: ['controller'], check: minorRange, doc: 'DRBD minor number range (default 1000-49999).' },
  { key: 'PeerSlotsNewResource', owners: ['controller', 'resourceGroup'], check: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 31 ? undefined : 'expected 1-31'), doc: 'DRBD peer slots for new resources.' },
  { key: 'FileSystem/Type', owners: ['resourceGroup', 'volumeGroup', 'resourceDefinition', 'volumeDefinition'], check: oneOf('ext4', 'xfs'), doc: 'File system created on new volumes.' },
  { key: 'FileSystem/MkfsParams', owners: ['resourceGroup', 'volumeGroup', 'resourceDefinition', 'volumeDefinition'], doc: 'Extra mkfs arguments.' },
  { key: 'Autoplacer/Weights/', owners: ['controller', 'resourceGroup'], check: nonNegativeNumber, doc: 'Strategy weights: MaxFreeSpace, MinReservedSpace, MinRscCount.' },
  { key: 'Autoplacer/', owners: ['controller', 'resourceGroup', 'storagePool'], doc: 'Autoplacer tuning.' },
  { key: 'DrbdOptions/Resource/', owners: DRBD_OWNERS, check: nonEmpty, doc: 'drbd resource options.' },
  { key: 'DrbdOptions/Net/', owners: DRBD_OWNERS, check: nonEmpty, doc: 'drbd net options.' },
  { key: 'DrbdOptions/Disk/', owners: DRBD_OWNERS, check: nonEmpty, doc: 'drbd disk options.' },
  { key: 'DrbdOptions/PeerDevice/', owners: DRBD_OWNERS, check: nonEmpty, doc: 'drbd peer-device options.' },
  { key: 'DrbdOptions/Handlers/', owners: DRBD_OWNERS, check: nonEmpty, doc: 'drbd handlers.' },
  { key: 'DrbdOptions/auto-add-quorum-tiebreaker', owners: DRBD_OWNERS, check: bool, doc: 'Add a diskless tie-breaker for an even number of replicas.' },
  { key: 'DrbdOptions/auto-diskful', owners: DRBD_OWNERS, check: nonNegativeNumber, doc: 'Minutes a diskless primary waits before becoming diskful.' },
  { key: 'DrbdOptions/auto-verify-algo-disable', owners: DRBD_OWNERS, check: bool, doc: 'Do not pick a verify algorithm automatically.' },
];

/** Namespaces nobody may write through the API: they hold the controller's own bookkeeping. */
const RESERVED = ['Internal/', 'Satellite/', 'Linstor/'];

const KEY_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._:-]*(\/[A-Za-z0-9._:-]+)*$/;
const MAX_KEY = 256;
const MAX_VALUE = 4096;

/**
 * Finds the rule that governs `key` for `owner`: the exact key, else the most specific namespace containing it.
 * The owner is checked only after the most specific rule is chosen, so a narrower namespace that excludes the
 * owner (e.g. Autoplacer/Weights/ on a storage pool) is not bypassed through a wider one (Autoplacer/).
 */
function ruleFor(owner: PropsOwner, key: string): KeyRule | undefined {
  const exact = KEY_RULES.find((r) => r.key === key);
  if (exact) return exact.owners.includes(owner) ? exact : undefined;
  const governing = KEY_RULES.filter((r) => r.key.endsWith('/') && key.startsWith(r.key) && key.length > r.key.length).sort(
    (a, b) => b.key.length - a.key.length,
  )[0];
  return governing?.owners.includes(owner) ? governing : undefined;
}

/**
 * Checks a namespace named in `unsetNamespaces`: it must be well-formed, and `owner` must accept some key in it
 * (e.g. DrbdOptions on a resource definition holds DrbdOptions/Net/...) or it must lie inside an accepted
 * namespace (Aux/rack inside Aux/).
 * @throws ApiError INVALID_PROPERTY
 */
export function checkPropNamespace(owner: PropsOwner, namespace: string, field: string): string {
  const trimmed = namespace.replace(/\/+$/, '');
  if (!KEY_SHAPE.test(trimmed) || trimmed.length > MAX_KEY) {
    throw ApiError.invalid(ErrorCode.INVALID_PROPERTY, field, `'${namespace}' is not a valid property namespace.`, "Give '/'-separated segments such as Aux/rack or DrbdOptions/Net.");
  }
  const prefix = `${trimmed}/`;
  const accepted = KEY_RULES.filter((r) => r.owners.includes(owner));
  const holdsAcceptedKeys = accepted.some((r) => r.key.startsWith(prefix));
  const insideAcceptedNamespace = !!ruleFor(owner, `${prefix}x`);
  if (!holdsAcceptedKeys && !insideAcceptedNamespace) {
    throw ApiError.invalid(
      ErrorCode.INVALID_PROPERTY,
      field,
      `A ${describeOwner(owner)} has no properties in the namespace '${trimmed}'.`,
      `Use one of: ${acceptedKeys(owner).join(', ')}.`,
    );
  }
  return prefix;
}

/** Namespaces and keys `owner` accepts, for error messages and docs. */
export function acceptedKeys(owner: PropsOwner): string[] {
  return KEY_RULES.filter((r) => r.owners.includes(owner)).map((r) => (r.key.endsWith('/') ? `${r.key}*` : r.key));
}

/**
 * Checks one key for `owner`. `field` names the input for the error.
 * @throws ApiError INVALID_PROPERTY
 */
export function checkPropKey(owner: PropsOwner, key: string, field: string): void {
  if (key.length === 0 || key.length > MAX_KEY || !KEY_SHAPE.test(key)) {
    throw ApiError.invalid(
      ErrorCode.INVALID_PROPERTY,
      field,
      `'${key}' is not a valid property key.`,
      `Use 1-${MAX_KEY} characters: '/'-separated segments of letters, digits, '.', '_', ':' and '-' (e.g. Aux/site).`,
    );
  }
  if (RESERVED.some((ns) => key.startsWith(ns))) {
    throw ApiError.invalid(
      ErrorCode.INVALID_PROPERTY,
      field,
      `'${key}' is in a namespace reserved for blockplane itself.`,
      'Store your own data under Aux/ instead.',
    );
  }
  if (!ruleFor(owner, key)) {
    throw ApiError.invalid(
      ErrorCode.INVALID_PROPERTY,
      field,
      `The property '${key}' is not known for a ${describeOwner(owner)}.`,
      `Use one of: ${acceptedKeys(owner).join(', ')}. For your own labels use Aux/<name>.`,
    );
  }
}

/**
 * Checks a key and its value for `owner`.
 * @throws ApiError INVALID_PROPERTY
 */
export function checkProp(owner: PropsOwner, key: string, value: string, field: string): void {
  checkPropKey(owner, key, field);
  if (value.length > MAX_VALUE) {
    throw ApiError.invalid(ErrorCode.INVALID_PROPERTY, field, `The value of '${key}' is longer than ${MAX_VALUE} characters.`, 'Shorten the value.');
  }
  const problem = ruleFor(owner, key)?.check?.(value);
  if (problem) {
    throw ApiError.invalid(ErrorCode.INVALID_PROPERTY, field, `'${value}' is not a valid value for '${key}': ${problem}.`, `Set '${key}' to a valid value.`);
  }
}

/** Human name of a props owner. */
export function describeOwner(owner: PropsOwner): string {
  return owner.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}
