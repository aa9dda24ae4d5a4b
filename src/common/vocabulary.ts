/**
 * LINSTOR's enumerations, with LINSTOR's spelling. Shared by controller, satellite and API.
 */

/** Node types (LINSTOR `Node.Type`). */
export const NODE_TYPES = ['CONTROLLER', 'SATELLITE', 'COMBINED', 'AUXILIARY'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/** Node types that run a satellite and may hold storage. */
export const STORAGE_NODE_TYPES: readonly NodeType[] = ['SATELLITE', 'COMBINED'];

/** Connection status of a node as seen by the controller (LINSTOR `ConnectionStatus`). */
export const CONNECTION_STATUSES = [
  'OFFLINE',
  'CONNECTED',
  'ONLINE',
  'VERSION_MISMATCH',
  'FULL_SYNC_FAILED',
  'AUTHENTICATION_ERROR',
  'UNKNOWN',
  'HOSTNAME_MISMATCH',
  'OTHER_CONTROLLER',
  'AUTHENTICATED',
  'NO_STLT_CONN',
  'MISSING_EXT_TOOLS',
  'DUPLICATE_UNAME',
] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** Storage provider kinds this project supports (LINSTOR `DeviceProviderKind`). */
export const PROVIDER_KINDS = ['DISKLESS', 'LVM', 'LVM_THIN', 'ZFS', 'ZFS_THIN', 'FILE', 'FILE_THIN'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** Encryption of the controller-satellite link of a net interface. */
export const ENCRYPTION_TYPES = ['PLAIN', 'SSL'] as const;
export type EncryptionType = (typeof ENCRYPTION_TYPES)[number];

/** Default satellite ports per encryption type (LINSTOR: 3366 plain, 3367 SSL). */
export const DEFAULT_SATELLITE_PORT: Record<EncryptionType, number> = { PLAIN: 3366, SSL: 3367 };

/** Layers of a resource's stack that blockplane knows. */
export const LAYER_KINDS = ['DRBD', 'STORAGE'] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

/** Resource flags (LINSTOR `Resource.Flags`, the subset this project uses). */
export const RESOURCE_FLAGS = ['DELETE', 'DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER', 'INACTIVE'] as const;
export type ResourceFlag = (typeof RESOURCE_FLAGS)[number];

/** Volume group flags. */
export const VOLUME_GROUP_FLAGS = ['GROSS_SIZE'] as const;
export type VolumeGroupFlag = (typeof VOLUME_GROUP_FLAGS)[number];

/** Volume definition flags. */
export const VOLUME_DEFINITION_FLAGS = ['GROSS_SIZE', 'RESIZE', 'DELETE', 'DRBD_INITIALIZED'] as const;
export type VolumeDefinitionFlag = (typeof VOLUME_DEFINITION_FLAGS)[number];

/** Resource definition flags. */
export const RESOURCE_DEFINITION_FLAGS = ['DELETE', 'FAILED'] as const;
export type ResourceDefinitionFlag = (typeof RESOURCE_DEFINITION_FLAGS)[number];

/** Default number of diskful replicas when a resource group sets none (LINSTOR's `place_count` default). */
export const DEFAULT_PLACE_COUNT = 2;
/** DRBD volume numbers per resource: 0..31 is more than LINSTOR users use in practice; DRBD allows 0..65534. */
export const MAX_VOLUME_NUMBER = 65534;

/** Lifecycle of a volume on its satellite. */
export const VOLUME_STATES = ['PENDING', 'CREATING', 'CREATED', 'RESIZING', 'FAILED', 'DELETING'] as const;
export type VolumeState = (typeof VOLUME_STATES)[number];

/** What a placement job does. */
export const JOB_KINDS = ['SPAWN', 'AUTOPLACE', 'CREATE', 'DELETE', 'GROW'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * A placement job's life: QUEUED (recorded), PLACED (records written, nodes chosen), REALIZING (satellites are at
 * work), DONE (every node acknowledged), FAILED (with the reason; satellites keep retrying what failed).
 */
export const JOB_STATES = ['QUEUED', 'PLACED', 'REALIZING', 'DONE', 'FAILED'] as const;
export type JobState = (typeof JOB_STATES)[number];
