import type { DesiredDrbdResource, DrbdBackendName } from '../../../common/protocol/drbd.js';

/**
 * The DRBD backend interface: what the satellite's DRBD layer (drbd-layer.ts) needs from DRBD on this host. Two
 * implementations:
 * - `drbd-utils` (utils-backend.ts): the real drbdadm/drbdsetup/drbdmeta commands on a host with the DRBD 9 kernel
 *   module, and the kernel's own `drbdsetup events2` stream;
 * - `emulated` (emulated/): for hosts without the module. It validates the generated configuration with the real
 *   drbdadm parser when drbd-utils is installed, and emulates the kernel: it emits the events2 lines DRBD would,
 *   over real TCP links between the emulated peers, so everything above the events2 parser is the real path.
 *
 * Every method is idempotent: the reconcile loop calls them again after any failure.
 */
export interface DrbdBackend {
  readonly name: DrbdBackendName;

  /**
   * Starts the state stream. `onLine` receives every events2 line (without the newline), beginning with the initial
   * dump that ends with `exists -`. When the stream restarts (the real events2 process died and was started again),
   * `onRestart` is called first and a new initial dump follows. Resolves once the stream runs.
   */
  start(onLine: (line: string) => void, onRestart: () => void): Promise<void>;

  /** Stops the state stream (the emulated backend also takes its emulated devices down, like a powered-off host). */
  stop(): Promise<void>;

  /**
   * Checks a generated resource file before it replaces the current one.
   * @throws DrbdConfigError carrying drbdadm's message when the file is refused.
   */
  validate(resourceName: string, resFilePath: string): Promise<void>;

  /** Whether a volume's backing device carries DRBD metadata already (then create-md must not run again). */
  hasMetadata(resource: DesiredDrbdResource, volumeNumber: number, backingDevice: string): Promise<boolean>;

  /** `drbdadm create-md --max-peers <peerSlots> --force <res>/<vol>`: writes fresh metadata on the backing device. */
  createMetadata(resource: DesiredDrbdResource, volumeNumber: number): Promise<void>;

  /** `drbdadm adjust <res>`: brings the running resource to the configuration in its .res file (also brings it up). */
  adjust(resource: DesiredDrbdResource): Promise<void>;

  /**
   * Makes the local data of fresh volumes the authoritative copy (`drbdadm primary --force` then `secondary`), so the
   * initial sync goes from this node to its peers. Only for volumes listed in `initialSyncSourceVolumes` whose
   * metadata was created in this pass.
   */
  forceInitialSync(resource: DesiredDrbdResource, volumeNumbers: number[]): Promise<void>;

  /** `drbdadm resize <res>/<vol>` after the backing device grew. */
  resize(resource: DesiredDrbdResource, volumeNumber: number): Promise<void>;

  /** `drbdadm down <res>`; no-op when the resource is not up. */
  down(resourceName: string): Promise<void>;
}

/** A resource file drbdadm refused; `message` is drbdadm's own output (file:line: what is wrong). */
export class DrbdConfigError extends Error {
  constructor(
    readonly resourceName: string,
    readonly drbdadmMessage: string,
  ) {
    super(`drbdadm refused the configuration of resource ${resourceName}: ${drbdadmMessage}`);
    this.name = 'DrbdConfigError';
  }
}
