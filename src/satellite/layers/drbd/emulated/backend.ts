import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DesiredDrbdResource } from '../../../../common/protocol/drbd.js';
import { DrbdConfigError, type DrbdBackend } from '../backend.js';
import { EmulatedResource, type KernelContext } from './kernel.js';
import { backingIdentity, JUST_CREATED_UUID, MetadataStore, type EmulatedMetadata } from './metadata.js';

/** Options of an {@link EmulatedDrbdBackend}; every value but `log` has a default. */
export interface EmulatedDrbdBackendOptions {
  log: Logger;
  /**
   * Checks a generated resource file (the satellite wires drbdadm's own parser in here when drbd-utils is installed).
   * Throws DrbdConfigError to refuse the file. Without it, validate() only checks that the file exists and is not
   * empty.
   */
  validator?: (resourceName: string, resFilePath: string) => Promise<void>;
  /** Resync speed of every peer-device (default 1 GiB/s, so tests and demos finish fast). */
  syncRateKibPerSec?: number;
  /** How often a running resync reports `done:` (default 100 ms). */
  progressIntervalMs?: number;
  /** Delay before re-dialing a peer after a failed or lost link (default 500 ms). */
  reconnectIntervalMs?: number;
  /**
   * Directory for the emulated on-disk metadata (one small JSON file per resource volume), so a restarted satellite
   * finds its volumes' metadata the way DRBD finds it on the backing device. Default: in memory, lost with the
   * process.
   */
  metadataDir?: string;
  /** Root of sysfs, where loop devices name their backing files (default /sys; tests use a fake tree). */
  sysfsRoot?: string;
}

const DEFAULT_SYNC_RATE_KIB_PER_SEC = 1024 * 1024;
const DEFAULT_PROGRESS_INTERVAL_MS = 100;
const DEFAULT_RECONNECT_INTERVAL_MS = 500;

/**
 * The `emulated` DRBD backend, for hosts without the DRBD 9 kernel module (development machines, CI, benchmarks that
 * run hundreds of satellites in one process). It emulates the kernel and prints the events2 lines DRBD 9 would, so
 * everything above the events2 parser runs its real code path:
 * - resources listen on their address:port and keep real TCP links to their peers, authenticated with the resource's
 *   shared secret (HMAC-SHA1 challenge/response, as cram-hmac-alg sha1), so a wrong secret or a wrong node id keeps a
 *   connection Connecting exactly like a misconfigured DRBD;
 * - resyncs run over those links at `syncRateKibPerSec`, both sides reporting the same progress;
 * - metadata (data generation per volume) persists in `metadataDir` when given, so restarts behave like DRBD's;
 * - quorum follows `DrbdOptions/Resource/quorum`.
 * Nothing is global: every socket, listener and timer belongs to this instance and is closed by stop() or down().
 * Every log line carries `drbdBackend: 'emulated'` and says "emulated", so nobody mistakes it for the kernel.
 */
export class EmulatedDrbdBackend implements DrbdBackend {
  readonly name = 'emulated' as const;
  private readonly log: Logger;
  private readonly store: MetadataStore;
  private readonly ctx: KernelContext;
  private readonly resources = new Map<string, EmulatedResource>();
  /** Per-resource operation chains: adjust/down/... of one resource never interleave. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Backing device hasMetadata last saw per volume (createMetadata is not told it). */
  private readonly backingDevices = new Map<string, string>();
  private onLine: ((line: string) => void) | null = null;
  private readonly sysfsRoot: string;

  constructor(private readonly options: EmulatedDrbdBackendOptions) {
    this.log = options.log.child({ drbdBackend: 'emulated' });
    this.store = new MetadataStore(options.metadataDir ?? null, this.log);
    this.sysfsRoot = options.sysfsRoot ?? '/sys';
    const reconnectIntervalMs = options.reconnectIntervalMs ?? DEFAULT_RECONNECT_INTERVAL_MS;
    this.ctx = {
      log: this.log,
      store: this.store,
      emit: (line) => this.emit(line),
      syncRateKibPerSec: options.syncRateKibPerSec ?? DEFAULT_SYNC_RATE_KIB_PER_SEC,
      progressIntervalMs: options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS,
      reconnectIntervalMs,
      // Long enough for a loaded benchmark host, short enough that a silent peer does not block re-dialing for long.
      handshakeTimeoutMs: Math.max(2000, 4 * reconnectIntervalMs),
    };
  }

  /** Starts the emulated events2 stream: the initial dump of the resources up now, then live changes. */
  async start(onLine: (line: string) => void, _onRestart: () => void): Promise<void> {
    // The emulated stream is in-process and cannot die, so onRestart is never called.
    this.onLine = onLine;
    this.log.info('emulated DRBD: events2 stream started (no kernel module; DRBD is emulated)');
    for (const name of [...this.resources.keys()].sort()) {
      for (const line of this.resources.get(name)?.existsLines() ?? []) this.emit(line);
    }
    this.emit('exists -');
  }

  /**
   * Powers the emulated host off: every resource goes away without destroy lines (the stream ends with it), all
   * sockets, listeners and timers are closed and the metadata is written out before this resolves.
   */
  async stop(): Promise<void> {
    this.onLine = null;
    const names = new Set([...this.resources.keys(), ...this.queues.keys()]);
    await Promise.all(
      [...names].map((name) =>
        this.serialize(name, async () => {
          const resource = this.resources.get(name);
          this.resources.delete(name);
          await resource?.shutdown(false);
        }).catch((error: unknown) => this.log.error({ err: error, resource: name }, 'emulated DRBD: shutdown failed')),
      ),
    );
    await this.store.flush();
    this.log.info('emulated DRBD: stopped');
  }

  /** The configured validator, or (without one) a check that the file exists and is not empty. */
  async validate(resourceName: string, resFilePath: string): Promise<void> {
    if (this.options.validator !== undefined) {
      await this.options.validator(resourceName, resFilePath);
      return;
    }
    let size: number;
    try {
      size = (await stat(resFilePath)).size;
    } catch (error) {
      throw new DrbdConfigError(resourceName, `${resFilePath}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'} (emulated check)`);
    }
    if (size === 0) throw new DrbdConfigError(resourceName, `${resFilePath}: empty resource file (emulated check)`);
  }

  /**
   * Whether emulated metadata exists for the volume on this backing device. Metadata written on another backing
   * device does not count: a re-created device has no metadata, as with real DRBD.
   */
  async hasMetadata(resource: DesiredDrbdResource, volumeNumber: number, backingDevice: string): Promise<boolean> {
    this.backingDevices.set(volumeKey(resource.name, volumeNumber), backingDevice);
    const md = await this.store.get(resource.name, volumeNumber);
    if (md === null) return false;
    // The identity decides when known (a loop device may get another number after a reboot); made-up device paths
    // without one fall back to the path.
    if (md.backingId === null) return md.backingDevice === backingDevice;
    return md.backingId === (await backingIdentity(backingDevice, this.sysfsRoot));
  }

  /**
   * Emulated `create-md`: fresh metadata with generation 0 (never had data).
   * @throws Error when the volume is attached right now (create-md refuses an attached device too)
   */
  async createMetadata(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    await this.serialize(resource.name, async () => {
      const running = this.resources.get(resource.name);
      if (running?.isAttached(volumeNumber) === true) {
        throw new Error(
          `emulated drbdadm create-md ${resource.name}/${volumeNumber}: the volume is attached; take the resource down first`,
        );
      }
      const backingDevice = this.backingDevices.get(volumeKey(resource.name, volumeNumber)) ?? null;
      const md: EmulatedMetadata = {
        generation: 0,
        uuid: JUST_CREATED_UUID,
        inconsistent: false,
        resync: null,
        peerSlots: resource.peerSlots,
        backingDevice,
        backingId: backingDevice === null ? null : await backingIdentity(backingDevice, this.sysfsRoot),
      };
      this.store.set(resource.name, volumeNumber, md);
      await this.store.flush();
      this.log.info(
        { resource: resource.name, volume: volumeNumber, backingDevice, peerSlots: resource.peerSlots },
        'emulated DRBD: create-md',
      );
    });
  }

  /**
   * Emulated `drbdadm adjust`: brings the resource up when it is not, else moves it to `resource`.
   * @throws Error when a diskful volume has no metadata (create-md first), the port cannot be bound, or the node id
   *   of a running resource changed
   */
  async adjust(resource: DesiredDrbdResource): Promise<void> {
    await this.serialize(resource.name, async () => {
      const metadata = new Map<number, EmulatedMetadata>();
      if (!resource.diskless) {
        for (const volume of resource.volumes) {
          const md = await this.store.get(resource.name, volume.volumeNumber);
          if (md === null) {
            throw new Error(
              `emulated drbdadm adjust ${resource.name}: volume ${volume.volumeNumber} has no DRBD metadata on its ` +
                'backing device; run create-md first',
            );
          }
          metadata.set(volume.volumeNumber, md);
        }
      }
      const running = this.resources.get(resource.name);
      if (running !== undefined) await running.reconfigure(resource, metadata);
      else this.resources.set(resource.name, await EmulatedResource.create(this.ctx, resource, metadata));
    });
  }

  /**
   * Emulated `primary --force` + `secondary`: the volumes become UpToDate with a new data generation and connected
   * peers sync from here.
   * @throws Error when the resource is not up or a volume is not attached
   */
  async forceInitialSync(resource: DesiredDrbdResource, volumeNumbers: number[]): Promise<void> {
    await this.serialize(resource.name, async () => {
      const running = this.resources.get(resource.name);
      if (running === undefined) throw new Error(`emulated drbdadm primary --force ${resource.name}: the resource is not up`);
      running.forceInitialSync(volumeNumbers);
      await this.store.flush();
    });
  }

  /** Emulated `drbdadm resize`: records the new size (no events2 line, as DRBD prints none the parser uses). */
  async resize(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    await this.serialize(resource.name, async () => {
      const volume = resource.volumes.find((v) => v.volumeNumber === volumeNumber);
      if (volume !== undefined) this.resources.get(resource.name)?.resize(volumeNumber, Number(volume.sizeKib));
    });
  }

  /** Emulated `drbdadm down`: prints the destroy lines and closes the resource's sockets; no-op when not up. */
  async down(resourceName: string): Promise<void> {
    await this.serialize(resourceName, async () => {
      const running = this.resources.get(resourceName);
      if (running === undefined) return;
      this.resources.delete(resourceName);
      await running.shutdown(true);
      await this.store.flush();
      this.log.info({ resource: resourceName }, 'emulated DRBD: resource down');
    });
  }

  private emit(line: string): void {
    const onLine = this.onLine;
    if (onLine === null) return;
    try {
      onLine(line);
    } catch (error) {
      this.log.error({ err: error, line }, 'emulated DRBD: the events2 consumer threw');
    }
  }

  /** Runs `operation` after every earlier operation on the same resource. */
  private serialize<T>(name: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(name, settled);
    void settled.then(() => {
      if (this.queues.get(name) === settled) this.queues.delete(name);
    });
    return result;
  }
}

function volumeKey(resource: string, volume: number): string {
  return `${resource}/${volume}`;
}
