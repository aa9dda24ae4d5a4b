import type { ProviderKind } from '../vocabulary.js';

/**
 * The controller <-> satellite protocol. The satellite is a graphql-ws client of the controller's internal
 * endpoint (SATELLITE_PATH), separate from the public API: it authenticates in connectionParams, subscribes to its
 * desired state and reports back with mutations. Payloads are JSON documents typed here, versioned by
 * PROTOCOL_VERSION; a satellite speaking another version is refused with a reason.
 */
export const PROTOCOL_VERSION = 1;

/** WebSocket path of the internal satellite endpoint on the controller's port. */
export const SATELLITE_PATH = '/satellite';

/** What a satellite presents when it connects. */
export interface SatelliteConnectionParams {
  nodeName: string;
  secret: string;
  protocolVersion: number;
  /** The host's name (LINSTOR's uname), for display and DRBD `on` sections. */
  hostname: string;
}

/**
 * Close codes the controller uses when it refuses or drops a satellite (4000-4999 is the application range of
 * WebSocket close codes). The satellite logs the reason and, for permanent refusals, keeps retrying slowly: an
 * operator may fix the secret or register the node meanwhile.
 */
export const SATELLITE_CLOSE = {
  UNKNOWN_NODE: 4404,
  WRONG_SECRET: 4401,
  NOT_A_STORAGE_NODE: 4400,
  ALREADY_CONNECTED: 4409,
  VERSION_MISMATCH: 4426,
} as const;

/** A storage pool the satellite must provide. */
export interface DesiredPool {
  name: string;
  providerKind: ProviderKind;
  props: Record<string, string>;
}

/** A backing volume the satellite must have. Sizes are decimal strings of KiB (JSON has no 64-bit integers). */
export interface DesiredVolume {
  resource: string;
  volumeNumber: number;
  pool: string;
  sizeKib: string;
}

/** Everything one node must realize at one revision. */
export interface DesiredState {
  node: string;
  /** Highest change-log revision included; the satellite acknowledges it once applied. */
  revision: number;
  pools: DesiredPool[];
  volumes: DesiredVolume[];
}
