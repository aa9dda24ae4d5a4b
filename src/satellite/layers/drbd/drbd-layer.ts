import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DesiredDrbdResource, DrbdResourceState, DrbdStateReport } from '../../../common/protocol/drbd.js';
import { errorMessage } from '../../reconcile/errors.js';
import type { DrbdBackend } from './backend.js';
import { DrbdStateTracker } from './events2.js';
import { renderResFile } from './res-file.js';

/** What the storage layer did for one local volume in this pass, as the DRBD layer needs it. */
export interface BackingVolume {
  /** The backing device (null: none, e.g. metadata-only LVM in tests). */
  devicePath: string | null;
  /** The storage layer grew it in this pass (DRBD must be told to resize). */
  grown: boolean;
}

/** The DRBD layer's outcome for one resource. */
export interface DrbdApplyResult {
  resource: string;
  /** null when the resource is configured and up; otherwise what failed (drbdadm's message for a refused file). */
  error: string | null;
}

export interface DrbdLayerOptions {
  backend: DrbdBackend;
  /** Directory of the generated .res files (one `<resource>.res` per resource; only files ending in .res are ours). */
  resDir: string;
  /** Name of this node's `on` section (the host name the controller knows the satellite by). */
  hostname: string;
  log: Logger;
  /** Delivers DRBD state to the controller; a rejection makes the next delivery a full one. */
  report: (report: DrbdStateReport) => Promise<void>;
  /** Coalescing window for state reports (default 50 ms): a resync's progress lines become one report per window. */
  reportWindowMs?: number;
}

const RES_SUFFIX = '.res';

/**
 * The satellite's DRBD layer (DESIGN "Satellite inside"): between the storage layer and the kernel. For every desired
 * DRBD resource it writes the .res file (validated by the backend before it replaces the old one), creates metadata
 * on fresh backing volumes, runs `adjust`, seeds the initial sync where the controller says so, and resizes after
 * growth; resources no longer desired are taken down before their storage goes. It also owns the state stream: every
 * events2 line goes through the parser into a tracker, and changes go to the controller in coalesced reports.
 *
 * The .res files in `resDir` are the layer's only memory across restarts: a file there means "this satellite brought
 * the resource up", so a resource whose file remains but which is no longer desired is taken down.
 */
export class DrbdLayer {
  private readonly tracker: DrbdStateTracker;
  private readonly log: Logger;
  private readonly windowMs: number;
  private flushTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private needFull = true;
  private sending: Promise<void> = Promise.resolve();
  private started = false;
  /** Desired diskless-ness by resource, so reports can say whether Diskless is intended. */
  private disklessByResource = new Map<string, boolean>();
  /** Desired peers by resource, for the same reason. */
  private peersByResource = new Map<string, { peer: string; diskless: boolean }[]>();
  /** Node name of each peer by DRBD node id, by resource: DRBD names a connection after the peer's host name. */
  private peerNamesByResource = new Map<string, Map<number, string>>();
  /**
   * What the last successful apply of each resource was given (desired resource and backing devices). A pass that
   * brings the same again, for a resource DRBD still has up, has nothing to do: no file, no drbdadm, no adjust
   * (LINSTOR likewise adjusts only resources that changed). Cleared when a resource goes down.
   */
  private readonly applied = new Map<string, string>();
  /** Volumes whose metadata this layer created and which are not seeded yet (`<resource>/<volume>`). */
  private readonly pendingSeed = new Set<string>();
  /** Volumes whose backing device grew and which DRBD has not been resized for yet (`<resource>/<volume>`). */
  private readonly pendingResize = new Set<string>();

  constructor(private readonly options: DrbdLayerOptions) {
    this.log = options.log.child({ layer: 'drbd', drbdBackend: options.backend.name });
    this.windowMs = options.reportWindowMs ?? 50;
    this.tracker = new DrbdStateTracker({
      onError: (error) => this.log.warn({ line: error.line, reason: error.reason }, 'ignored a malformed events2 line'),
      onUnknownState: (state) => this.log.warn(state, 'events2 reported a state this satellite does not know'),
    });
  }

  get backendName(): DrbdBackend['name'] {
    return this.options.backend.name;
  }

  /** Starts the backend's state stream. */
  async start(): Promise<void> {
    await mkdir(this.options.resDir, { recursive: true });
    await this.options.backend.start(
      (line) => {
        this.tracker.push(line);
        this.scheduleFlush();
      },
      () => {
        // A new initial dump follows; the controller gets everything again once it is complete.
        this.tracker.reset();
        this.needFull = true;
      },
    );
    this.started = true;
    this.log.info({ resDir: this.options.resDir }, `DRBD layer started with the ${this.options.backend.name} backend`);
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.flushTimer = null;
    this.retryTimer = null;
    if (this.started) await this.options.backend.stop();
    this.started = false;
    await this.sending;
  }

  /** The next state report is a full one (called after every (re)connect to the controller). */
  resendFull(): void {
    this.needFull = true;
    this.scheduleFlush();
  }

  /** Current state of one resource as the tracker knows it, or null. */
  stateOf(resource: string): DrbdResourceState | null {
    return this.tracker.get(resource);
  }

  /** Names of the resources whose .res files this layer wrote. */
  async ownResources(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.options.resDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return entries.filter((f) => f.endsWith(RES_SUFFIX)).map((f) => f.slice(0, -RES_SUFFIX.length)).sort();
  }

  /**
   * Takes down every resource this layer brought up that is not in `desired` and removes its file. Runs before the
   * storage layer deletes anything. Returns the resources that could not be taken down (their storage must stay).
   */
  async removeUnwanted(desired: readonly DesiredDrbdResource[]): Promise<Map<string, string>> {
    const wanted = new Set(desired.map((r) => r.name));
    const failures = new Map<string, string>();
    for (const name of await this.ownResources()) {
      if (wanted.has(name)) continue;
      try {
        this.applied.delete(name);
        for (const set of [this.pendingResize, this.pendingSeed]) for (const key of [...set]) if (key.startsWith(`${name}/`)) set.delete(key);
        await this.options.backend.down(name);
        await rm(this.resFile(name), { force: true });
        this.log.info({ resource: name }, 'took down DRBD resource (no longer desired)');
      } catch (error) {
        this.log.warn({ resource: name, err: error }, 'could not take down DRBD resource');
        failures.set(name, errorMessage(error));
      }
    }
    return failures;
  }

  /**
   * Brings one resource to its desired configuration. `backing` has the local backing volume of each diskful volume
   * (all must exist: the caller skips resources whose storage failed). Never throws; the error is in the result.
   */
  async apply(resource: DesiredDrbdResource, backing: ReadonlyMap<number, BackingVolume>): Promise<DrbdApplyResult> {
    const { backend } = this.options;
    const log = this.log.child({ resource: resource.name });
    this.disklessByResource.set(resource.name, resource.diskless);
    this.peersByResource.set(resource.name, resource.peers.map((p) => ({ peer: p.node, diskless: p.diskless })));
    this.peerNamesByResource.set(resource.name, new Map(resource.peers.map((p) => [p.nodeId, p.node])));
    try {
      // Every backing device is checked before the file is written: rendered without its device, a diskful volume
      // would be `disk none` in the installed file, and the next adjust (by anyone) would detach the disk.
      const devices = new Map<number, string>();
      if (!resource.diskless) {
        for (const v of resource.volumes) {
          const device = backing.get(v.volumeNumber)?.devicePath;
          if (!device) throw new Error(`volume ${v.volumeNumber} has no backing device; the storage layer must create it first`);
          devices.set(v.volumeNumber, device);
        }
      }
      // A grow is remembered until `drbdadm resize` succeeded: the storage layer reports it only in the pass that
      // grew the backing device, and a failed resize must be tried again in later passes.
      for (const v of resource.volumes) if (!resource.diskless && backing.get(v.volumeNumber)?.grown) this.pendingResize.add(`${resource.name}/${v.volumeNumber}`);
      const grown = resource.volumes.some((v) => this.pendingResize.has(`${resource.name}/${v.volumeNumber}`));
      const fingerprint = JSON.stringify([resource, [...devices]]);
      if (!grown && this.applied.get(resource.name) === fingerprint && this.tracker.get(resource.name) && this.seedable(resource).length === 0) {
        return { resource: resource.name, error: null };
      }
      this.applied.delete(resource.name);
      await this.writeResFile(resource, devices);

      if (!resource.diskless) {
        const state = this.stateOf(resource.name);
        for (const [volumeNumber, device] of devices) {
          // Metadata exists for sure while DRBD has the disk attached; only look when it is not.
          const attached = state?.volumes.some((d) => d.volumeNumber === volumeNumber && d.diskState !== 'Diskless');
          if (!attached && !(await backend.hasMetadata(resource, volumeNumber, device))) {
            await backend.createMetadata(resource, volumeNumber);
            this.pendingSeed.add(`${resource.name}/${volumeNumber}`);
            log.info({ volume: volumeNumber, device }, 'created DRBD metadata');
          }
        }
      }
      await backend.adjust(resource);

      const seed = this.seedable(resource);
      if (!resource.diskless && seed.length > 0) {
        await backend.forceInitialSync(resource, seed);
        for (const n of seed) this.pendingSeed.delete(`${resource.name}/${n}`);
        log.info({ volumes: seed }, 'made the local data authoritative for the initial sync');
      }
      for (const v of resource.volumes) {
        const key = `${resource.name}/${v.volumeNumber}`;
        if (!resource.diskless && this.pendingResize.has(key)) {
          await backend.resize(resource, v.volumeNumber);
          this.pendingResize.delete(key);
          log.info({ volume: v.volumeNumber }, 'resized DRBD volume');
        }
      }
      this.applied.set(resource.name, fingerprint);
      return { resource: resource.name, error: null };
    } catch (error) {
      log.warn({ err: error }, 'DRBD configuration failed');
      return { resource: resource.name, error: errorMessage(error) };
    }
  }

  /**
   * Volumes this node seeds now (`primary --force`: its data becomes the authoritative copy). Only volumes
   * - the controller names (no replica of them was ever UpToDate),
   * - whose metadata this layer created itself (a brand-new, empty device: nothing on it can be lost), and
   * - that no peer reports UpToDate (the controller's instruction may be older than that copy).
   * `primary --force` acts on the whole resource, so nothing is seeded while another diskful volume of the resource
   * is neither UpToDate nor to be seeded itself (e.g. a resync towards this node runs): that would make partial data
   * authoritative. Never for a volume that merely looks Inconsistent: that may be a half-finished resync.
   */
  private seedable(resource: DesiredDrbdResource): number[] {
    if (resource.diskless) return [];
    const state = this.stateOf(resource.name);
    const candidates = resource.initialSyncSourceVolumes.filter((n) => {
      const key = `${resource.name}/${n}`;
      if (!this.pendingSeed.has(key)) return false;
      const peerHasData = state?.connections.some((c) => c.peerDevices.some((d) => d.volumeNumber === n && d.peerDiskState === 'UpToDate'));
      if (peerHasData) {
        this.pendingSeed.delete(key); // data exists elsewhere: this copy syncs from it, never the other way round
        return false;
      }
      return true;
    });
    if (candidates.length === 0) return [];
    const others = resource.volumes.filter((v) => !candidates.includes(v.volumeNumber));
    const unsafe = others.some((v) => {
      const disk = state?.volumes.find((d) => d.volumeNumber === v.volumeNumber)?.diskState;
      return disk !== undefined && disk !== 'UpToDate' && disk !== 'Diskless';
    });
    return unsafe ? [] : candidates;
  }

  private resFile(name: string): string {
    return path.join(this.options.resDir, `${name}${RES_SUFFIX}`);
  }

  /**
   * Writes the .res file when its content changed: rendered to a temporary name (not ending in .res, so drbdadm's
   * include glob never sees a half-checked file), validated by the backend, then renamed over the old one. A refused
   * file is removed and the old one stays.
   */
  private async writeResFile(resource: DesiredDrbdResource, disks: ReadonlyMap<number, string | null>): Promise<void> {
    const text = renderResFile({ resource, hostname: this.options.hostname, backingDisks: disks });
    const target = this.resFile(resource.name);
    const current = await readFile(target, 'utf8').catch(() => null);
    if (current === text) return;
    const temporary = `${target}.new`;
    await writeFile(temporary, text, { mode: 0o600 });
    try {
      await this.options.backend.validate(resource.name, temporary);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await rename(temporary, target);
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.sending = this.sending.then(() => this.flush());
    }, this.windowMs);
    this.flushTimer.unref?.();
  }

  private async flush(): Promise<void> {
    if (!this.tracker.ready) return; // the initial dump is not complete yet: nothing trustworthy to say
    const full = this.needFull;
    const changes = full ? { resources: this.tracker.takeSnapshot(), removed: [] } : this.tracker.takeChanges();
    if (!full && changes.resources.length === 0 && changes.removed.length === 0) return;
    const resources = changes.resources.map((r) => {
      const diskless = this.disklessByResource.get(r.resource);
      const expectedPeers = this.peersByResource.get(r.resource);
      const names = this.peerNamesByResource.get(r.resource);
      // Connections are reported under the peer's node name (the controller's name for it), not DRBD's conn-name.
      const connections = names ? r.connections.map((c) => ({ ...c, peer: names.get(c.peerNodeId) ?? c.peer })) : r.connections;
      return diskless === undefined ? r : { ...r, connections, diskless, ...(expectedPeers ? { expectedPeers } : {}) };
    });
    this.needFull = false;
    try {
      await this.options.report({ backend: this.options.backend.name, full, resources, removed: changes.removed });
    } catch (error) {
      // Lost in transit (not connected, connection closed): the next report carries everything, and it is not left
      // waiting for the next events2 line (the controller would keep showing the old state meanwhile).
      this.log.debug({ err: error }, 'DRBD state report not delivered; the next one is full');
      this.needFull = true;
      if (this.started && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.scheduleFlush();
        }, 1000);
        this.retryTimer.unref?.();
      }
    }
  }
}
