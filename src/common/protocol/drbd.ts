/**
 * The DRBD part of the controller <-> satellite protocol and its vocabulary: what the controller asks a satellite to
 * run (one {@link DesiredDrbdResource} per resource on the node, with everything its .res file needs), and the state
 * the satellite observes in DRBD's events2 stream and reports back ({@link DrbdStateReport}).
 *
 * State names are DRBD's own, verbatim (as printed by `drbdsetup events2`), so an operator can match them with
 * `drbdadm status` on the host.
 */

/** Disk states of a local device or a peer's disk (`disk:` / `peer-disk:`). */
export const DRBD_DISK_STATES = [
  'Diskless',
  'Attaching',
  'Detaching',
  'Failed',
  'Negotiating',
  'Inconsistent',
  'Outdated',
  'DUnknown',
  'Consistent',
  'UpToDate',
] as const;
export type DrbdDiskState = (typeof DRBD_DISK_STATES)[number];

/** Connection states of a connection to one peer (`connection:`). */
export const DRBD_CONNECTION_STATES = [
  'StandAlone',
  'Disconnecting',
  'Unconnected',
  'Timeout',
  'BrokenPipe',
  'NetworkFailure',
  'ProtocolError',
  'Connecting',
  'TearDown',
  'Connected',
] as const;
export type DrbdConnectionState = (typeof DRBD_CONNECTION_STATES)[number];

/** Replication states of one volume towards one peer (`replication:`). */
export const DRBD_REPLICATION_STATES = [
  'Off',
  'Established',
  'StartingSyncS',
  'StartingSyncT',
  'WFBitMapS',
  'WFBitMapT',
  'WFSyncUUID',
  'SyncSource',
  'SyncTarget',
  'PausedSyncS',
  'PausedSyncT',
  'VerifyS',
  'VerifyT',
  'Ahead',
  'Behind',
] as const;
export type DrbdReplicationState = (typeof DRBD_REPLICATION_STATES)[number];

/** Roles of a resource, locally (`role:` of a resource) or of a peer (`role:` of a connection). */
export const DRBD_ROLES = ['Primary', 'Secondary', 'Unknown'] as const;
export type DrbdRole = (typeof DRBD_ROLES)[number];

/** The two DRBD backends of a satellite (see the satellite's layers/drbd). */
export const DRBD_BACKENDS = ['drbd-utils', 'emulated'] as const;
export type DrbdBackendName = (typeof DRBD_BACKENDS)[number];

/** One volume of a resource as the .res file needs it, on the local node or a peer. */
export interface DesiredDrbdVolume {
  volumeNumber: number;
  /** DRBD minor number, the same on every node (`/dev/drbd<minor>`). */
  minor: number;
  /** Net size the DRBD device must offer, KiB as a decimal string. */
  sizeKib: string;
}

/** A peer of a resource: another node holding a replica (diskful or diskless) of the same resource definition. */
export interface DesiredDrbdPeer {
  /** The peer's node name (the connection's name in events2, `conn-name:`). */
  node: string;
  /** Name of the peer's `on` section: its satellite's host name (LINSTOR's uname), or the node name when unknown. */
  hostname: string;
  nodeId: number;
  /** IP address of the peer's DRBD link (its active net interface). */
  address: string;
  /** The peer's TCP port for this resource (ports are allocated per node). */
  port: number;
  diskless: boolean;
  tieBreaker: boolean;
}

/**
 * One DRBD resource a satellite must run: its own replica (`nodeId`, `port`, `address`, diskless or not) and its
 * peers. The backing devices of diskful volumes come from the storage layer (DesiredVolume entries with the same
 * resource name and volume number).
 */
export interface DesiredDrbdResource {
  /** Resource definition name (the DRBD resource name). */
  name: string;
  /** Shared secret of the resource definition (cram-hmac-alg sha1). */
  secret: string;
  nodeId: number;
  /** Local address and port the resource listens on. */
  address: string;
  port: number;
  diskless: boolean;
  tieBreaker: boolean;
  /** Metadata peer slots for create-md (`--max-peers`). */
  peerSlots: number;
  volumes: DesiredDrbdVolume[];
  /** Other replicas, sorted by node name. */
  peers: DesiredDrbdPeer[];
  /**
   * Effective DRBD options (`DrbdOptions/Resource/*`, `DrbdOptions/Net/*`, `DrbdOptions/Disk/*`,
   * `DrbdOptions/PeerDevice/*`, `DrbdOptions/Handlers/*`), including the quorum the controller decided.
   */
  options: Record<string, string>;
  /**
   * Volume numbers this node must make UpToDate by itself because no replica of them has data yet (the first
   * diskful replica of a new resource; DRBD's "primary --force" initial sync source). Empty once any replica was
   * UpToDate: a replica added later always syncs from its peers.
   */
  initialSyncSourceVolumes: number[];
}

/** One volume as DRBD reports it on the local node. */
export interface DrbdVolumeState {
  volumeNumber: number;
  minor: number | null;
  diskState: DrbdDiskState | 'Unknown';
  /** A diskless volume that does not vote in quorum (DRBD `client:yes`). */
  client: boolean;
  /** Whether the device has quorum (DRBD 9 `quorum:`); null when the stream does not say. */
  quorum: boolean | null;
}

/** One volume towards one peer. */
export interface DrbdPeerDeviceState {
  volumeNumber: number;
  replicationState: DrbdReplicationState | 'Unknown';
  peerDiskState: DrbdDiskState | 'Unknown';
  /** Resync progress 0-100 while syncing; null otherwise. */
  donePercent: number | null;
}

/** The connection to one peer. */
export interface DrbdConnectionStateReport {
  peerNodeId: number;
  /** The peer's connection name (its node name). */
  peer: string;
  connectionState: DrbdConnectionState | 'Unknown';
  peerRole: DrbdRole;
  peerDevices: DrbdPeerDeviceState[];
}

/** Everything the satellite knows about one DRBD resource at one moment. */
export interface DrbdResourceState {
  resource: string;
  /**
   * Whether the replica is meant to be diskless (the satellite adds it from its desired state): then a Diskless
   * volume is right, while on a diskful replica it means the disk was lost. Absent when the satellite does not know.
   */
  diskless?: boolean;
  /**
   * The peers the replica is configured with (the satellite adds them from its desired state), so a peer DRBD does
   * not show at all, or shows Diskless although it is diskful, counts against health. Absent when unknown.
   */
  expectedPeers?: { peer: string; diskless: boolean }[];
  role: DrbdRole;
  suspended: boolean;
  volumes: DrbdVolumeState[];
  connections: DrbdConnectionStateReport[];
}

/**
 * Sent by the satellite whenever DRBD state changes (coalesced over a short window). `full` replaces everything the
 * controller knows about the node's DRBD resources (sent after every (re)connect and after the events2 stream
 * restarted); otherwise `resources` replace those resources' states and `removed` names resources DRBD no longer has.
 */
export interface DrbdStateReport {
  backend: DrbdBackendName;
  full: boolean;
  resources: DrbdResourceState[];
  removed: string[];
}
