import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DB_LOGS_STATE, desiredDrbdResource, drbdPeer, events2FixtureLines } from '../../../../support/drbd.js';
import type { DesiredDrbdResource, DrbdStateReport } from '../../../../../src/common/protocol/drbd.js';
import { DrbdConfigError, type DrbdBackend } from '../../../../../src/satellite/layers/drbd/backend.js';
import { DrbdLayer, type BackingVolume } from '../../../../../src/satellite/layers/drbd/drbd-layer.js';
import { renderResFile } from '../../../../../src/satellite/layers/drbd/res-file.js';

/*
 * DrbdLayer between a scripted backend and a temporary resource directory. The backend records every call in the
 * order the layer made it, fails the calls a test lists, and plays the kernel's part of the state stream: lines fed
 * with `emit()` reach the layer through the onLine callback it registered in start(), exactly as the real events2
 * stream would.
 */

const log = pino({ level: 'silent' });
const HOSTNAME = 'node-a.example';
const WINDOW_MS = 15;


const peer = drbdPeer;

/** A diskful replica of `name` on node-a with volumes 0 and 1 and peers node-b and node-c. */
function resource(name = 'pvc-1', overrides: Partial<DesiredDrbdResource> = {}): DesiredDrbdResource {
  return desiredDrbdResource({
    name,
    volumes: [
      { volumeNumber: 0, minor: 1000, sizeKib: '102400' },
      { volumeNumber: 1, minor: 1001, sizeKib: '204800' },
    ],
    peers: [peer('node-b', 1), peer('node-c', 2)],
    options: { 'DrbdOptions/Resource/quorum': 'majority' },
    ...overrides,
  });
}

const device = (name: string, volumeNumber: number) => `/dev/vg0/${name}_${String(volumeNumber).padStart(5, '0')}`;

/** Backing volumes of every volume of `r`, grown where listed. */
function backingOf(r: DesiredDrbdResource, grown: number[] = []): Map<number, BackingVolume> {
  return new Map(r.volumes.map((v) => [v.volumeNumber, { devicePath: device(r.name, v.volumeNumber), grown: grown.includes(v.volumeNumber) }]));
}

/** The file the layer must write for `r` with the backing devices of `backingOf(r)` (null for a diskless replica). */
function expectedResFile(r: DesiredDrbdResource): string {
  const disks = new Map(r.volumes.map((v) => [v.volumeNumber, r.diskless ? null : device(r.name, v.volumeNumber)]));
  return renderResFile({ resource: r, hostname: HOSTNAME, backingDisks: disks });
}

class FakeDrbdBackend implements DrbdBackend {
  readonly name = 'drbd-utils' as const;
  readonly calls: string[] = [];
  /** `<resource>/<volume>` whose backing device carries DRBD metadata. */
  readonly metadata = new Set<string>();
  /** Call (as recorded in `calls`) -> what it throws. */
  readonly failures = new Map<string, Error>();
  /** What each validate call saw: the file it was given, its content, and the .res file's content at that moment. */
  readonly validated: { file: string; text: string; current: string | null }[] = [];
  private onLine: ((line: string) => void) | null = null;
  private onRestart: (() => void) | null = null;

  async start(onLine: (line: string) => void, onRestart: () => void): Promise<void> {
    this.record('start');
    this.onLine = onLine;
    this.onRestart = onRestart;
  }

  async stop(): Promise<void> {
    this.record('stop');
    this.onLine = null;
  }

  async validate(resourceName: string, resFilePath: string): Promise<void> {
    const target = resFilePath.replace(/\.new$/, '');
    this.validated.push({ file: path.basename(resFilePath), text: readFileSync(resFilePath, 'utf8'), current: existsSync(target) ? readFileSync(target, 'utf8') : null });
    this.record(`validate ${resourceName} ${path.basename(resFilePath)}`);
  }

  async hasMetadata(resource: DesiredDrbdResource, volumeNumber: number, backingDevice: string): Promise<boolean> {
    this.record(`hasMetadata ${resource.name}/${volumeNumber} ${backingDevice}`);
    return this.metadata.has(`${resource.name}/${volumeNumber}`);
  }

  async createMetadata(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    this.record(`createMetadata ${resource.name}/${volumeNumber}`);
    this.metadata.add(`${resource.name}/${volumeNumber}`);
  }

  async adjust(resource: DesiredDrbdResource): Promise<void> {
    this.record(`adjust ${resource.name}`);
  }

  async forceInitialSync(resource: DesiredDrbdResource, volumeNumbers: number[]): Promise<void> {
    this.record(`forceInitialSync ${resource.name} ${volumeNumbers.join(',')}`);
  }

  async resize(resource: DesiredDrbdResource, volumeNumber: number): Promise<void> {
    this.record(`resize ${resource.name}/${volumeNumber}`);
  }

  async down(resourceName: string): Promise<void> {
    this.record(`down ${resourceName}`);
  }

  /** Feeds events2 lines to the layer, as the stream would. */
  emit(...lines: string[]): void {
    if (!this.onLine) throw new Error('test bug: the layer has not started the stream');
    for (const line of lines) this.onLine(line);
  }

  /** The events2 process died and was started again: a new initial dump follows. */
  restart(): void {
    if (!this.onRestart) throw new Error('test bug: the layer has not started the stream');
    this.onRestart();
  }

  private record(call: string): void {
    this.calls.push(call);
    const failure = this.failures.get(call);
    if (failure) throw failure;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `count` reports arrived (or fails after a second), then a few windows more to catch extra ones. */
async function reportsAfterQuiet(reports: DrbdStateReport[], count: number): Promise<DrbdStateReport[]> {
  const deadline = Date.now() + 1000;
  while (reports.length < count && Date.now() < deadline) await sleep(5);
  await sleep(WINDOW_MS * 4);
  return reports;
}

/** The DRBD state the tracker reports for db-logs after initial-dump-3node.txt (written out by hand). */

describe('DrbdLayer', () => {
  let root: string;
  let resDir: string;
  let backend: FakeDrbdBackend;
  let reports: DrbdStateReport[];
  /** Report attempts to refuse, in order (true: reject). */
  let refuse: boolean[];
  let layer: DrbdLayer;

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'bp-drbd-layer-'));
    resDir = path.join(root, 'drbd.d');
    backend = new FakeDrbdBackend();
    reports = [];
    refuse = [];
    layer = new DrbdLayer({
      backend,
      resDir,
      hostname: HOSTNAME,
      log,
      reportWindowMs: WINDOW_MS,
      report: async (report) => {
        // Copied: the assertion must see what was sent, not a later mutation.
        reports.push(JSON.parse(JSON.stringify(report)) as DrbdStateReport);
        if (refuse.shift()) throw new Error('not connected to the controller');
      },
    });
  });

  afterEach(async () => {
    await layer.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const resFile = (name: string) => path.join(resDir, `${name}.res`);
  const filesInResDir = () => readdirSync(resDir).sort();

  describe('apply', () => {
    beforeEach(async () => {
      await layer.start();
      backend.calls.length = 0;
    });

    it('configures a fresh diskful resource: validated file, metadata, adjust, initial sync of the listed volumes', async () => {
      const r = resource('pvc-1', { initialSyncSourceVolumes: [0, 1] });

      const result = await layer.apply(r, backingOf(r));

      expect(result).toEqual({ resource: 'pvc-1', error: null });
      expect(backend.calls).toEqual([
        'validate pvc-1 pvc-1.res.new',
        `hasMetadata pvc-1/0 ${device('pvc-1', 0)}`,
        'createMetadata pvc-1/0',
        `hasMetadata pvc-1/1 ${device('pvc-1', 1)}`,
        'createMetadata pvc-1/1',
        'adjust pvc-1',
        'forceInitialSync pvc-1 0,1',
      ]);
      const text = readFileSync(resFile('pvc-1'), 'utf8');
      expect(text).toBe(expectedResFile(r));
      expect(text).toContain(`disk "${device('pvc-1', 1)}";`);
      // The validated text is the one that was installed, and nothing else is left behind.
      expect(backend.validated).toEqual([{ file: 'pvc-1.res.new', text, current: null }]);
      expect(filesInResDir()).toEqual(['pvc-1.res']);
      expect(statSync(resFile('pvc-1')).mode & 0o777).toBe(0o600);
    });

    it('creates metadata only where there is none, and seeds only freshly created volumes', async () => {
      backend.metadata.add('pvc-1/0');
      const r = resource('pvc-1', { initialSyncSourceVolumes: [0, 1] });

      expect(await layer.apply(r, backingOf(r))).toEqual({ resource: 'pvc-1', error: null });

      expect(backend.calls).toEqual([
        'validate pvc-1 pvc-1.res.new',
        `hasMetadata pvc-1/0 ${device('pvc-1', 0)}`,
        `hasMetadata pvc-1/1 ${device('pvc-1', 1)}`,
        'createMetadata pvc-1/1',
        'adjust pvc-1',
        'forceInitialSync pvc-1 1',
      ]);
    });

    it('does not seed volumes that are not initial sync sources, even when their metadata is fresh', async () => {
      const r = resource('pvc-1');
      expect(await layer.apply(r, backingOf(r))).toEqual({ resource: 'pvc-1', error: null });
      expect(backend.calls).toEqual([
        'validate pvc-1 pvc-1.res.new',
        `hasMetadata pvc-1/0 ${device('pvc-1', 0)}`,
        'createMetadata pvc-1/0',
        `hasMetadata pvc-1/1 ${device('pvc-1', 1)}`,
        'createMetadata pvc-1/1',
        'adjust pvc-1',
      ]);
    });

    it('leaves an unchanged file alone (no validate) and rewrites a changed one after validating it', async () => {
      const r = resource('pvc-1');
      await layer.apply(r, backingOf(r));
      backend.calls.length = 0;

      await layer.apply(r, backingOf(r));
      expect(backend.calls.filter((c) => c.startsWith('validate'))).toEqual([]);
      expect(backend.calls).toContain('adjust pvc-1');

      const withPeer = resource('pvc-1', { peers: [peer('node-b', 1), peer('node-c', 2), peer('node-d', 3, { diskless: true })] });
      backend.calls.length = 0;
      expect(await layer.apply(withPeer, backingOf(withPeer))).toEqual({ resource: 'pvc-1', error: null });
      expect(backend.calls[0]).toBe('validate pvc-1 pvc-1.res.new');
      expect(backend.validated[1]).toEqual({ file: 'pvc-1.res.new', text: expectedResFile(withPeer), current: expectedResFile(r) });
      expect(readFileSync(resFile('pvc-1'), 'utf8')).toBe(expectedResFile(withPeer));
      expect(readFileSync(resFile('pvc-1'), 'utf8')).toContain('node-d.example');
    });

    it('keeps the old file when drbdadm refuses the new one, leaves no .new file, reports drbdadm\'s message and runs nothing else', async () => {
      const r = resource('pvc-1');
      await layer.apply(r, backingOf(r));
      const before = readFileSync(resFile('pvc-1'), 'utf8');
      backend.calls.length = 0;
      const refused = new DrbdConfigError('pvc-1', "pvc-1.res.new:12: Parse error: 'a syntax error' expected");
      backend.failures.set('validate pvc-1 pvc-1.res.new', refused);

      const changed = resource('pvc-1', { options: { 'DrbdOptions/Resource/quorum': 'off' } });
      const result = await layer.apply(changed, backingOf(changed));

      expect(result).toEqual({ resource: 'pvc-1', error: refused.message });
      expect(result.error).toContain("pvc-1.res.new:12: Parse error: 'a syntax error' expected");
      expect(backend.calls).toEqual(['validate pvc-1 pvc-1.res.new']);
      expect(readFileSync(resFile('pvc-1'), 'utf8')).toBe(before);
      expect(filesInResDir()).toEqual(['pvc-1.res']);
    });

    it('writes no file at all for a first configuration drbdadm refuses', async () => {
      backend.failures.set('validate pvc-1 pvc-1.res.new', new DrbdConfigError('pvc-1', 'no'));
      const r = resource('pvc-1');
      expect((await layer.apply(r, backingOf(r))).error).toBe('drbdadm refused the configuration of resource pvc-1: no');
      expect(filesInResDir()).toEqual([]);
    });

    it('skips the metadata check for attached volumes, and never seeds a volume it did not create the metadata of (Inconsistent may be a half-finished resync)', async () => {
      // Volumes 0-2 are up (a previous pass created their metadata); 3 is not attached yet.
      const r = resource('pvc-2', {
        volumes: [0, 1, 2, 3].map((n) => ({ volumeNumber: n, minor: 1010 + n, sizeKib: '1024' })),
        initialSyncSourceVolumes: [0, 1, 2, 3],
      });
      backend.metadata.add('pvc-2/3');
      backend.emit(
        'exists resource name:pvc-2 role:Secondary suspended:no',
        'exists device name:pvc-2 volume:0 minor:1010 disk:Inconsistent client:no quorum:yes',
        'exists device name:pvc-2 volume:1 minor:1011 disk:UpToDate client:no quorum:yes',
        'exists device name:pvc-2 volume:2 minor:1012 disk:Inconsistent client:no quorum:yes',
        'exists connection name:pvc-2 peer-node-id:1 conn-name:node-b connection:Connected role:Secondary',
        'exists peer-device name:pvc-2 peer-node-id:1 conn-name:node-b volume:0 replication:Established peer-disk:Inconsistent',
        'exists peer-device name:pvc-2 peer-node-id:1 conn-name:node-b volume:1 replication:Established peer-disk:UpToDate',
        'exists peer-device name:pvc-2 peer-node-id:1 conn-name:node-b volume:2 replication:SyncTarget peer-disk:UpToDate done:5.00',
        'exists -',
      );

      expect(await layer.apply(r, backingOf(r))).toEqual({ resource: 'pvc-2', error: null });

      // 0: Inconsistent, nothing syncs it, but its metadata is not this layer's fresh work -> not seeded; 1: UpToDate;
      // 2: a resync runs; 3: metadata existed already. Nothing is forced.
      expect(backend.calls).toEqual(['validate pvc-2 pvc-2.res.new', `hasMetadata pvc-2/3 ${device('pvc-2', 3)}`, 'adjust pvc-2']);
    });

    it('does nothing on a pass that brings the same resource again while DRBD has it up, and everything after a change', async () => {
      const r = resource('pvc-3');
      await layer.apply(r, backingOf(r));
      backend.emit(
        'exists -',
        'create resource name:pvc-3 role:Secondary suspended:no',
        'create device name:pvc-3 volume:0 minor:1000 disk:UpToDate client:no quorum:yes',
        'create device name:pvc-3 volume:1 minor:1001 disk:UpToDate client:no quorum:yes',
      );
      backend.calls.length = 0;
      expect(await layer.apply(r, backingOf(r))).toEqual({ resource: 'pvc-3', error: null });
      expect(backend.calls).toEqual([]);
      // A changed peer list (or DRBD no longer having the resource) means work again.
      const changed = { ...r, peers: r.peers.slice(0, 1) };
      await layer.apply(changed, backingOf(changed));
      expect(backend.calls).toEqual(['validate pvc-3 pvc-3.res.new', 'adjust pvc-3']);
      backend.calls.length = 0;
      backend.emit('destroy device name:pvc-3 volume:0', 'destroy device name:pvc-3 volume:1', 'destroy resource name:pvc-3');
      await layer.apply(changed, backingOf(changed));
      expect(backend.calls).toEqual([`hasMetadata pvc-3/0 ${device('pvc-3', 0)}`, `hasMetadata pvc-3/1 ${device('pvc-3', 1)}`, 'adjust pvc-3']);
    });

    it('tries a failed resize again in the next pass, although the storage reports the growth only once', async () => {
      const r = resource('pvc-5');
      await layer.apply(r, backingOf(r));
      backend.failures.set('resize pvc-5/1', new Error('(131) Need one Primary node to resize'));
      const grownOnce = new Map([...backingOf(r)].map(([n, b]) => [n, { ...b, grown: n === 1 }]));
      expect((await layer.apply(r, grownOnce)).error).toContain('Need one Primary node to resize');
      backend.failures.delete('resize pvc-5/1');
      backend.calls.length = 0;
      expect(await layer.apply(r, backingOf(r))).toEqual({ resource: 'pvc-5', error: null });
      expect(backend.calls.filter((c) => c.startsWith('resize'))).toEqual(['resize pvc-5/1']);
    });

    it('seeds nothing while another volume of the resource is neither UpToDate nor being seeded (primary --force is resource-wide)', async () => {
      const r = resource('pvc-6', { initialSyncSourceVolumes: [1] });
      backend.metadata.add('pvc-6/0');
      backend.emit(
        'exists -',
        'create resource name:pvc-6 role:Secondary suspended:no',
        'create device name:pvc-6 volume:0 minor:1000 disk:Inconsistent client:no quorum:yes',
        'create connection name:pvc-6 peer-node-id:1 conn-name:node-b connection:Connected role:Secondary',
        'create peer-device name:pvc-6 peer-node-id:1 conn-name:node-b volume:0 replication:SyncTarget peer-disk:UpToDate done:10.00',
      );
      await layer.apply(r, backingOf(r));
      expect(backend.calls).toContain('createMetadata pvc-6/1');
      expect(backend.calls.filter((c) => c.startsWith('forceInitialSync'))).toEqual([]);
      // Once volume 0 is UpToDate, the fresh volume 1 is seeded.
      backend.emit('change device name:pvc-6 volume:0 disk:UpToDate', 'change peer-device name:pvc-6 peer-node-id:1 volume:0 replication:Established');
      backend.calls.length = 0;
      await layer.apply(r, backingOf(r));
      expect(backend.calls.filter((c) => c.startsWith('forceInitialSync'))).toEqual(['forceInitialSync pvc-6 1']);
    });

    it('never seeds a volume while a peer reports its copy UpToDate, even when told to (a stale instruction)', async () => {
      const r = resource('pvc-4', { initialSyncSourceVolumes: [0] });
      backend.emit(
        'exists -',
        'create resource name:pvc-4 role:Secondary suspended:no',
        'create device name:pvc-4 volume:0 minor:1000 disk:Inconsistent client:no quorum:yes',
        'create connection name:pvc-4 peer-node-id:1 conn-name:node-b connection:Connected role:Secondary',
        'create peer-device name:pvc-4 peer-node-id:1 conn-name:node-b volume:0 replication:Established peer-disk:UpToDate',
      );
      await layer.apply(r, backingOf(r));
      expect(backend.calls.filter((c) => c.startsWith('forceInitialSync'))).toEqual([]);
    });

    it('checks the metadata of a volume DRBD shows Diskless (not attached)', async () => {
      backend.emit(
        'exists resource name:pvc-1 role:Secondary suspended:no',
        'exists device name:pvc-1 volume:0 minor:1000 disk:UpToDate client:no quorum:yes',
        'exists device name:pvc-1 volume:1 minor:1001 disk:Diskless client:no quorum:yes',
        'exists -',
      );
      backend.metadata.add('pvc-1/1');
      const r = resource('pvc-1');
      await layer.apply(r, backingOf(r));
      expect(backend.calls).toEqual(['validate pvc-1 pvc-1.res.new', `hasMetadata pvc-1/1 ${device('pvc-1', 1)}`, 'adjust pvc-1']);
    });

    it('resizes exactly the grown volumes, after adjust', async () => {
      backend.metadata.add('pvc-1/0').add('pvc-1/1');
      const r = resource('pvc-1');
      await layer.apply(r, backingOf(r));
      backend.calls.length = 0;

      expect(await layer.apply(r, backingOf(r, [1]))).toEqual({ resource: 'pvc-1', error: null });

      expect(backend.calls).toEqual([`hasMetadata pvc-1/0 ${device('pvc-1', 0)}`, `hasMetadata pvc-1/1 ${device('pvc-1', 1)}`, 'adjust pvc-1', 'resize pvc-1/1']);
    });

    it('configures a diskless replica with `disk none`: no metadata, no initial sync, no resize', async () => {
      const r = resource('pvc-3', { diskless: true, initialSyncSourceVolumes: [0] });
      const backing = new Map<number, BackingVolume>([[0, { devicePath: null, grown: true }]]);

      expect(await layer.apply(r, backing)).toEqual({ resource: 'pvc-3', error: null });

      expect(backend.calls).toEqual(['validate pvc-3 pvc-3.res.new', 'adjust pvc-3']);
      const text = readFileSync(resFile('pvc-3'), 'utf8');
      expect(text).toBe(expectedResFile(r));
      expect(text).not.toContain('/dev/vg0/');
    });

    it('reports a failing backend step with its message and stops there', async () => {
      backend.failures.set('createMetadata pvc-1/0', new Error('drbdmeta: backing device too small'));
      const r = resource('pvc-1');

      const result = await layer.apply(r, backingOf(r));

      expect(result).toEqual({ resource: 'pvc-1', error: 'drbdmeta: backing device too small' });
      expect(backend.calls).toEqual(['validate pvc-1 pvc-1.res.new', `hasMetadata pvc-1/0 ${device('pvc-1', 0)}`, 'createMetadata pvc-1/0']);
    });

    /*
     * Regression: apply() used to render and install the file before checking the backing devices, so a diskful
     * volume without one was written as `disk none` over the working configuration (what the next `drbdadm adjust`,
     * by anyone, would have applied: detaching the disk), and only then refused.
     */
    it('refuses a diskful volume without a backing device before touching the configuration', async () => {
      const r = resource('pvc-1');
      await layer.apply(r, backingOf(r));
      const before = readFileSync(resFile('pvc-1'), 'utf8');
      backend.calls.length = 0;

      const result = await layer.apply(r, new Map([[0, { devicePath: device('pvc-1', 0), grown: false }], [1, { devicePath: null, grown: false }]]));

      expect(result).toEqual({ resource: 'pvc-1', error: 'volume 1 has no backing device; the storage layer must create it first' });
      expect(backend.calls).toEqual([]);
      expect(readFileSync(resFile('pvc-1'), 'utf8')).toBe(before);
      expect(filesInResDir()).toEqual(['pvc-1.res']);
    });
  });

  describe('removeUnwanted', () => {
    it('takes down and forgets every own resource that is not desired, and touches nothing else', async () => {
      await layer.start();
      for (const name of ['keep', 'old-1', 'old-2']) await layer.apply(resource(name), backingOf(resource(name)));
      writeFileSync(path.join(resDir, 'notes.txt'), 'not ours');
      writeFileSync(path.join(resDir, 'global_common.conf'), 'not ours either');
      backend.calls.length = 0;

      const failures = await layer.removeUnwanted([resource('keep')]);

      expect(failures).toEqual(new Map());
      expect(backend.calls).toEqual(['down old-1', 'down old-2']);
      expect(filesInResDir()).toEqual(['global_common.conf', 'keep.res', 'notes.txt']);
      expect(await layer.ownResources()).toEqual(['keep']);
    });

    it('reports a resource that would not go down and keeps its file, so the next pass tries again', async () => {
      await layer.start();
      for (const name of ['old-1', 'old-2']) await layer.apply(resource(name), backingOf(resource(name)));
      backend.calls.length = 0;
      backend.failures.set('down old-1', new Error("old-1: State change failed: (-12) Device is held open by someone"));

      const failures = await layer.removeUnwanted([]);

      expect(failures).toEqual(new Map([['old-1', "old-1: State change failed: (-12) Device is held open by someone"]]));
      expect(backend.calls).toEqual(['down old-1', 'down old-2']);
      expect(filesInResDir()).toEqual(['old-1.res']);

      backend.failures.clear();
      backend.calls.length = 0;
      expect(await layer.removeUnwanted([])).toEqual(new Map());
      expect(backend.calls).toEqual(['down old-1']);
      expect(filesInResDir()).toEqual([]);
    });

    it('does nothing while the resource directory does not exist yet', async () => {
      expect(await layer.removeUnwanted([])).toEqual(new Map());
      expect(await layer.ownResources()).toEqual([]);
      expect(backend.calls).toEqual([]);
    });
  });

  describe('state reports', () => {
    const dump = events2FixtureLines('initial-dump-3node.txt');

    it('sends nothing before `exists -`, then one full report of the initial dump', async () => {
      await layer.start();
      expect(backend.calls).toEqual(['start']);
      expect(existsSync(resDir)).toBe(true);

      backend.emit(...dump.slice(0, -1));
      await sleep(WINDOW_MS * 4);
      expect(reports).toEqual([]);

      backend.emit('exists -');
      await reportsAfterQuiet(reports, 1);

      expect(reports).toHaveLength(1);
      const [report] = reports;
      expect(report).toMatchObject({ backend: 'drbd-utils', full: true, removed: [] });
      expect(report!.resources.map((r) => r.resource)).toEqual(['db-logs', 'web-data']);
      expect(report!.resources[0]).toEqual(DB_LOGS_STATE);
      const web = report!.resources[1]!;
      expect(web.volumes.map((v) => [v.volumeNumber, v.minor, v.diskState])).toEqual([
        [0, 1000, 'UpToDate'],
        [1, 1001, 'UpToDate'],
      ]);
      expect(web.connections.map((c) => [c.peerNodeId, c.peer, c.connectionState, c.peerDevices.map((d) => d.peerDiskState)])).toEqual([
        [1, 'node-b', 'Connected', ['UpToDate', 'UpToDate']],
        [2, 'node-c', 'Connected', ['Diskless', 'Diskless']],
      ]);
    });

    it('sends later changes as deltas of the changed resources, coalesced within the window', async () => {
      await layer.start();
      backend.emit(...dump);
      await reportsAfterQuiet(reports, 1);

      // Four lines about web-data's link to node-b within one window: one report with the end state.
      backend.emit(
        'change connection name:web-data peer-node-id:1 conn-name:node-b connection:NetworkFailure role:Unknown',
        'change peer-device name:web-data peer-node-id:1 conn-name:node-b volume:1 replication:Off peer-disk:DUnknown peer-client:no',
        'change peer-device name:web-data peer-node-id:1 conn-name:node-b volume:0 replication:Off peer-disk:DUnknown peer-client:no',
        'change connection name:web-data peer-node-id:1 conn-name:node-b connection:Connecting',
      );
      await reportsAfterQuiet(reports, 2);

      expect(reports).toHaveLength(2);
      const delta = reports[1]!;
      expect([delta.full, delta.removed, delta.resources.map((r) => r.resource)]).toEqual([false, [], ['web-data']]);
      const link = delta.resources[0]!.connections.find((c) => c.peerNodeId === 1)!;
      expect([link.connectionState, link.peerRole, link.peerDevices.map((d) => d.replicationState)]).toEqual(['Connecting', 'Unknown', ['Off', 'Off']]);

      // A resource that goes down is named in `removed`.
      backend.emit(...events2FixtureLines('resource-down.txt').slice(11));
      await reportsAfterQuiet(reports, 3);
      expect(reports.slice(2)).toEqual([{ backend: 'drbd-utils', full: false, resources: [], removed: ['db-logs'] }]);
    });

    it('sends no report for lines that change nothing the report carries', async () => {
      await layer.start();
      backend.emit(...dump);
      await reportsAfterQuiet(reports, 1);

      backend.emit('change resource name:db-logs may_promote:no promotion_score:10101', 'call helper name:db-logs peer-node-id:1 conn-name:node-b helper:disconnected');
      await sleep(WINDOW_MS * 4);
      expect(reports).toHaveLength(1);
    });

    it('makes the report after a refused one full', async () => {
      await layer.start();
      refuse = [false, true];
      backend.emit(...dump);
      await reportsAfterQuiet(reports, 1);

      backend.emit('change device name:db-logs volume:0 minor:1002 disk:Outdated');
      await reportsAfterQuiet(reports, 2);
      expect([reports[1]!.full, reports[1]!.resources.map((r) => r.resource)]).toEqual([false, ['db-logs']]);

      // The delta above was lost: the next report carries everything, including web-data that did not change.
      backend.emit('change connection name:web-data peer-node-id:2 conn-name:node-c connection:Connecting');
      await reportsAfterQuiet(reports, 3);
      expect(reports).toHaveLength(3);
      expect(reports[2]!.full).toBe(true);
      expect(reports[2]!.resources.map((r) => [r.resource, r.volumes[0]?.diskState, r.connections.at(-1)?.connectionState])).toEqual([
        ['db-logs', 'Outdated', 'Connected'],
        ['web-data', 'UpToDate', 'Connecting'],
      ]);

      // Delivered: back to deltas.
      backend.emit('change device name:db-logs volume:0 minor:1002 disk:UpToDate');
      await reportsAfterQuiet(reports, 4);
      expect([reports[3]!.full, reports[3]!.resources.map((r) => r.resource)]).toEqual([false, ['db-logs']]);
    });

    it('annotates resources it applied with whether they are meant to be diskless, and only those', async () => {
      await layer.start();
      const webData = resource('web-data', { diskless: true, volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: '1024' }] });
      expect((await layer.apply(webData, new Map())).error).toBeNull();
      backend.emit(...dump);
      await reportsAfterQuiet(reports, 1);

      const byName = new Map(reports[0]!.resources.map((r) => [r.resource, r]));
      expect(byName.get('web-data')?.diskless).toBe(true);
      // The peers it is configured with go along, and connections carry the peers' node names (DRBD's conn-name is
      // the peer's host name on a real host): node ids 1 and 2 are node-b and node-c.
      expect(byName.get('web-data')?.expectedPeers).toEqual([
        { peer: 'node-b', diskless: false },
        { peer: 'node-c', diskless: false },
      ]);
      expect(byName.get('web-data')?.connections.map((c) => [c.peerNodeId, c.peer])).toEqual([
        [1, 'node-b'],
        [2, 'node-c'],
      ]);
      expect(byName.get('db-logs')).toEqual(DB_LOGS_STATE);
      expect('diskless' in byName.get('db-logs')!).toBe(false);

      // Applied as diskful later: the next report says so. DRBD naming the connection after the host changes nothing.
      const diskful = resource('web-data', { volumes: [{ volumeNumber: 0, minor: 1000, sizeKib: '1024' }] });
      backend.metadata.add('web-data/0');
      expect((await layer.apply(diskful, backingOf(diskful))).error).toBeNull();
      backend.emit('change resource name:web-data role:Secondary', 'change connection name:web-data peer-node-id:1 conn-name:node-b.example connection:Connecting');
      await reportsAfterQuiet(reports, 2);
      expect(reports[1]!.resources.map((r) => [r.resource, r.diskless])).toEqual([['web-data', false]]);
      expect(reports[1]!.resources[0]!.connections.find((c) => c.peerNodeId === 1)?.peer).toBe('node-b');
    });

    it('resendFull() sends everything again at once, and nothing before the initial dump is complete', async () => {
      await layer.start();
      backend.emit(...dump.slice(0, 5));
      layer.resendFull();
      await sleep(WINDOW_MS * 4);
      expect(reports).toEqual([]);

      backend.emit(...dump.slice(5));
      await reportsAfterQuiet(reports, 1);
      backend.emit('change device name:db-logs volume:0 minor:1002 disk:Outdated');
      await reportsAfterQuiet(reports, 2);
      expect(reports.map((r) => r.full)).toEqual([true, false]);

      layer.resendFull();
      await reportsAfterQuiet(reports, 3);
      expect(reports).toHaveLength(3);
      expect([reports[2]!.full, reports[2]!.resources.map((r) => r.resource)]).toEqual([true, ['db-logs', 'web-data']]);
      expect(reports[2]!.resources[0]!.volumes[0]!.diskState).toBe('Outdated');
    });

    it('after the stream restarts, waits for the new dump and sends it in full', async () => {
      await layer.start();
      backend.emit(...dump);
      await reportsAfterQuiet(reports, 1);

      backend.restart();
      // The new dump no longer has db-logs.
      backend.emit(...dump.filter((line) => !line.includes('db-logs')).slice(0, -1));
      await sleep(WINDOW_MS * 4);
      expect(reports).toHaveLength(1);

      backend.emit('exists -');
      await reportsAfterQuiet(reports, 2);
      expect(reports).toHaveLength(2);
      expect([reports[1]!.full, reports[1]!.resources.map((r) => r.resource)]).toEqual([true, ['web-data']]);
      expect(layer.stateOf('db-logs')).toBeNull();
    });

    it('stop() stops the backend and sends nothing afterwards', async () => {
      await layer.start();
      backend.emit(...dump.slice(0, -1));
      backend.emit('exists -');
      await layer.stop();
      await sleep(WINDOW_MS * 4);
      expect(backend.calls).toEqual(['start', 'stop']);
      expect(reports).toEqual([]);
    });
  });
});
