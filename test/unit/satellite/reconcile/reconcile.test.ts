import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ApiError, ErrorCode } from '../../../../src/common/api-rc.js';
import type { DesiredDrbdResource } from '../../../../src/common/protocol/drbd.js';
import { desiredDrbdResource } from '../../../support/drbd.js';
import type { DesiredPool, DesiredState, DesiredVolume } from '../../../../src/common/protocol/satellite.js';
import { CommandError } from '../../../../src/satellite/exec/command-runner.js';
import type { BackingVolume, DrbdApplyResult, DrbdLayer } from '../../../../src/satellite/layers/drbd/drbd-layer.js';
import { FileThinProvider } from '../../../../src/satellite/layers/storage/file/provider.js';
import type { PoolSpec, StorageProvider } from '../../../../src/satellite/layers/storage/provider.js';
import { CachingProviderSource, reconcile, type ProviderSource } from '../../../../src/satellite/reconcile/reconcile.js';
import { FakeCommandRunner } from '../../../fakes/fake-command-runner.js';
import { FakeProvider } from './fake-provider.js';

const log = pino({ level: 'silent' });

const pool = (name: string, providerKind: DesiredPool['providerKind'] = 'LVM', props: Record<string, string> = {}): DesiredPool => ({ name, providerKind, props });
const vol = (resource: string, volumeNumber: number, poolName: string, sizeKib: number | string): DesiredVolume => ({
  resource,
  volumeNumber,
  pool: poolName,
  sizeKib: String(sizeKib),
});
const state = (pools: DesiredPool[], volumes: DesiredVolume[], revision = 7): DesiredState => ({ node: 'n1', revision, pools, volumes, drbdResources: [] });

/** A provider source over fixed fake providers, one per pool name. */
function fakes(...providers: FakeProvider[]): ProviderSource & { byName: Map<string, FakeProvider> } {
  const byName = new Map(providers.map((p) => [p.pool.name, p]));
  return {
    byName,
    providerFor: (p) => {
      const provider = byName.get(p.name);
      if (!provider) throw new Error(`test has no provider for pool ${p.name}`);
      return provider;
    },
    retainOnly: () => undefined,
  };
}
const fakeProvider = (name: string, providerKind: DesiredPool['providerKind'] = 'LVM', totalKib?: bigint) =>
  new FakeProvider({ name, providerKind, props: {} }, totalKib);

const commandError = (stderr: string) =>
  new CommandError({ argv: ['lvcreate', '-n', 'r2_00000', 'vg0'], purpose: 'p1: create volume r2_00000', exitCode: 5, stdout: '', stderr, timedOut: false });

describe('reconcile', () => {
  it('creates the missing, grows the smaller, deletes the undesired and keeps the rest, then measures capacity', async () => {
    const p1 = fakeProvider('p1', 'LVM', 100_000n)
      .seed('keep_00000', 1024n)
      .seed('grow_00000', 512n)
      .seed('bigger_00000', 4096n)
      .seed('gone_00000', 2048n)
      .seed('gone_00003', 10n);
    const desired = state([pool('p1')], [vol('keep', 0, 'p1', 1024), vol('grow', 0, 'p1', 1024), vol('bigger', 0, 'p1', 2048), vol('new', 0, 'p1', 8192)]);

    const report = await reconcile(desired, fakes(p1), log);

    // Deletions first (they free space), then the rest in name order; capacity last.
    expect(p1.calls).toEqual(['check', 'list', 'delete gone_00000', 'delete gone_00003', 'resize grow_00000 1024', 'create new_00000 8192', 'capacity']);
    expect(report).toEqual({
      revision: 7,
      converged: true,
      // 100000 - (1024 + 1024 + 4096 + 8192): measured after the actions.
      pools: [{ name: 'p1', error: null, totalKib: '100000', freeKib: '85664' }],
      volumes: [
        { resource: 'bigger', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/bigger_00000', usableKib: '4096', allocatedKib: '4096' },
        { resource: 'gone', volumeNumber: 0, state: 'DELETED', error: null },
        { resource: 'gone', volumeNumber: 3, state: 'DELETED', error: null },
        { resource: 'grow', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/grow_00000', usableKib: '1024', allocatedKib: '1024' },
        { resource: 'keep', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/keep_00000', usableKib: '1024', allocatedKib: '1024' },
        { resource: 'new', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/new_00000', usableKib: '8192', allocatedKib: '8192' },
      ],
    });
  });

  it('never deletes from one pool a volume that another pool of the node wants (pools sharing storage by mistake)', async () => {
    // Both pools list the same backing volume, as two pools on one directory or volume group would.
    const bulk = fakeProvider('bulk').seed('r1_00000', 1024n);
    const fast = fakeProvider('fast').seed('r1_00000', 1024n);
    const report = await reconcile(state([pool('bulk'), pool('fast')], [vol('r1', 0, 'fast', 1024)]), fakes(bulk, fast), log);
    expect(bulk.calls).toEqual(['check', 'list', 'capacity']);
    expect(fast.calls).toEqual(['check', 'list', 'capacity']);
    expect(report.volumes).toEqual([{ resource: 'r1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/r1_00000', usableKib: '1024', allocatedKib: '1024' }]);
  });

  it('is idempotent: a second pass over the same state only reads', async () => {
    const p1 = fakeProvider('p1').seed('old_00000', 100n).seed('small_00001', 1n);
    const desired = state([pool('p1')], [vol('small', 1, 'p1', 64), vol('r1', 0, 'p1', 128)]);
    const first = await reconcile(desired, fakes(p1), log);
    expect(first.converged).toBe(true);
    p1.calls.length = 0;

    const second = await reconcile(desired, fakes(p1), log);

    expect(p1.calls).toEqual(['check', 'list', 'capacity']);
    expect(second.converged).toBe(true);
    expect(second.volumes.map((v) => `${v.resource}/${v.volumeNumber} ${v.state}`)).toEqual(['r1/0 CREATED', 'small/1 CREATED']);
  });

  it('isolates a failing volume: the others are still created and deleted, and the failure carries the tool\'s message', async () => {
    const p1 = fakeProvider('p1').seed('doomed_00000', 10n).seed('stuck_00000', 10n);
    const error = commandError('  Volume group "vg0" has insufficient free space (10 extents): 256 required.');
    p1.failures.set('create r2_00000', error);
    p1.failures.set('delete stuck_00000', new Error('device busy'));
    const desired = state([pool('p1')], [vol('r1', 0, 'p1', 64), vol('r2', 0, 'p1', 1_048_576), vol('r3', 0, 'p1', 64)]);

    const report = await reconcile(desired, fakes(p1), log);

    expect(p1.calls).toEqual(['check', 'list', 'delete doomed_00000', 'delete stuck_00000', 'create r1_00000 64', 'create r2_00000 1048576', 'create r3_00000 64', 'capacity']);
    expect(report.converged).toBe(false);
    expect(report.pools).toEqual([{ name: 'p1', error: null, totalKib: '1000000', freeKib: '999862' }]);
    expect(report.volumes.map((v) => [v.resource, v.volumeNumber, v.state, v.error])).toEqual([
      ['doomed', 0, 'DELETED', null],
      ['r1', 0, 'CREATED', null],
      ['r2', 0, 'FAILED', error.message],
      ['r3', 0, 'CREATED', null],
      ['stuck', 0, 'FAILED', 'device busy'],
    ]);
    expect(error.message).toBe(
      'p1: create volume r2_00000: `lvcreate -n r2_00000 vg0` exited with 5: Volume group "vg0" has insufficient free space (10 extents): 256 required.',
    );
  });

  it('reports an unusable pool with its error, fails its volumes without touching them, and carries on with the other pools', async () => {
    const broken = fakeProvider('broken').seed('r9_00000', 10n);
    const missingVg = new ApiError({ code: ErrorCode.NOT_FOUND, message: "The LVM volume group 'vg9' of storage pool 'broken' (LVM) does not exist on this node." });
    broken.failures.set('check', missingVg);
    const fine = fakeProvider('fine');
    const desired = state([pool('fine'), pool('broken')], [vol('r1', 0, 'broken', 64), vol('r2', 0, 'fine', 64)]);

    const report = await reconcile(desired, fakes(broken, fine), log);

    expect(broken.calls).toEqual(['check']);
    expect(fine.calls).toEqual(['check', 'list', 'create r2_00000 64', 'capacity']);
    expect(broken.volumes.has('r9_00000')).toBe(true);
    expect(report.converged).toBe(false);
    expect(report.pools).toEqual([
      { name: 'broken', error: missingVg.message },
      { name: 'fine', error: null, totalKib: '1000000', freeKib: '999936' },
    ]);
    expect(report.volumes).toEqual([
      { resource: 'r1', volumeNumber: 0, state: 'FAILED', error: `pool broken unusable: ${missingVg.message}` },
      { resource: 'r2', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/fake/r2_00000', usableKib: '64', allocatedKib: '64' },
    ]);
  });

  it('treats a pool whose volumes cannot be listed as unusable, and one whose capacity cannot be read as failed', async () => {
    const unlisted = fakeProvider('unlisted');
    unlisted.failures.set('list', new Error('lvs timed out'));
    const noCapacity = fakeProvider('no-capacity');
    noCapacity.failures.set('capacity', new Error('df: cannot read'));
    const desired = state([pool('unlisted'), pool('no-capacity')], [vol('a', 0, 'unlisted', 8), vol('b', 0, 'no-capacity', 8)]);

    const report = await reconcile(desired, fakes(unlisted, noCapacity), log);

    expect(unlisted.calls).toEqual(['check', 'list']);
    expect(noCapacity.calls).toEqual(['check', 'list', 'create b_00000 8', 'capacity']);
    expect(report.converged).toBe(false);
    expect(report.pools).toEqual([
      { name: 'no-capacity', error: 'cannot read capacity: df: cannot read' },
      { name: 'unlisted', error: 'lvs timed out' },
    ]);
    expect(report.volumes.map((v) => [v.resource, v.state, v.error])).toEqual([
      ['a', 'FAILED', 'pool unlisted unusable: lvs timed out'],
      ['b', 'CREATED', null],
    ]);
  });

  it('fails a volume whose pool is not configured on the node, and one with an invalid size, without running anything for them', async () => {
    const p1 = fakeProvider('p1');
    const desired = state([pool('p1')], [vol('r1', 0, 'elsewhere', 64), vol('r2', 0, 'p1', 'ten'), vol('r3', 0, 'p1', 0)]);

    const report = await reconcile(desired, fakes(p1), log);

    expect(p1.calls).toEqual(['check', 'list', 'capacity']);
    expect(report.converged).toBe(false);
    expect(report.volumes).toEqual([
      { resource: 'r1', volumeNumber: 0, state: 'FAILED', error: 'pool elsewhere not configured on this node' },
      { resource: 'r2', volumeNumber: 0, state: 'FAILED', error: "invalid size 'ten' KiB (expected a whole number of KiB, at least 1)" },
      { resource: 'r3', volumeNumber: 0, state: 'FAILED', error: "invalid size '0' KiB (expected a whole number of KiB, at least 1)" },
    ]);
  });

  it('leaves the volumes of a pool that is no longer desired alone', async () => {
    const old = fakeProvider('old').seed('r1_00000', 64n);
    const report = await reconcile(state([], []), fakes(old), log);
    expect(old.calls).toEqual([]);
    expect(report).toEqual({ revision: 7, converged: true, pools: [], volumes: [] });
  });

  it('attaches a FILE_THIN volume that lost its loop device, but not an LVM volume without a device (metadata-only)', async () => {
    const files = fakeProvider('files', 'FILE_THIN').seed('r1_00000', 64n, null);
    const lvm = fakeProvider('lvm', 'LVM').seed('r2_00000', 64n, null);
    const desired = state([pool('files', 'FILE_THIN'), pool('lvm')], [vol('r1', 0, 'files', 64), vol('r2', 0, 'lvm', 64)]);

    const report = await reconcile(desired, fakes(files, lvm), log);

    expect(files.calls).toEqual(['check', 'list', 'create r1_00000 64', 'capacity']);
    expect(lvm.calls).toEqual(['check', 'list', 'capacity']);
    expect(report.volumes.map((v) => [v.resource, v.devicePath])).toEqual([
      ['r1', '/dev/fake/r1_00000'],
      ['r2', null],
    ]);
  });

  it('reports an unknown provider kind as an unusable pool', async () => {
    const runner = new FakeCommandRunner();
    const desired = state([pool('future', 'NVME_OF' as DesiredPool['providerKind'])], [vol('r1', 0, 'future', 64)]);
    const report = await reconcile(desired, new CachingProviderSource({ runner }), log);
    runner.assertDone();
    expect(report.pools).toEqual([{ name: 'future', error: expect.stringContaining("provider kind 'NVME_OF' is not supported by this satellite") }]);
    expect(report.volumes).toEqual([{ resource: 'r1', volumeNumber: 0, state: 'FAILED', error: expect.stringMatching(/^pool future unusable: provider kind 'NVME_OF'/) }]);
    expect(report.converged).toBe(false);
  });

  it('reports a DISKLESS pool as usable with 0/0 capacity and its volumes as created without a device, running no command', async () => {
    const runner = new FakeCommandRunner();
    const desired = state([pool('DfltDisklessStorPool', 'DISKLESS')], [vol('r1', 0, 'DfltDisklessStorPool', 64)]);
    const report = await reconcile(desired, new CachingProviderSource({ runner }), log);
    runner.assertDone();
    expect(report).toEqual({
      revision: 7,
      converged: true,
      pools: [{ name: 'DfltDisklessStorPool', error: null, totalKib: '0', freeKib: '0' }],
      volumes: [{ resource: 'r1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: null, usableKib: '0', allocatedKib: '0' }],
    });
  });

  it('throws only for a bug outside the per-object handling', async () => {
    const broken: ProviderSource = {
      providerFor: () => fakeProvider('p1'),
      retainOnly: () => {
        throw new TypeError('bug');
      },
    };
    await expect(reconcile(state([pool('p1')], []), broken, log)).rejects.toThrow('bug');
  });
});

describe('reconcile with the real FILE_THIN provider and a scripted runner', () => {
  const LIST = ['losetup', '--json', '--list', '--output', 'NAME,BACK-FILE,OFFSET,SIZELIMIT'];
  const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/commands');
  let root: string;
  let dir: string;
  let sysfs: string;

  beforeEach(() => {
    root = realpathSync(mkdtempSync(path.join(tmpdir(), 'bp-reconcile-unit-')));
    dir = path.join(root, 'pool');
    sysfs = path.join(root, 'sys');
    mkdirSync(dir);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const setDeviceSize = (device: string, bytes: number) => {
    const entry = path.join(sysfs, 'class', 'block', path.basename(device));
    mkdirSync(entry, { recursive: true });
    writeFileSync(path.join(entry, 'size'), `${bytes / 512}\n`);
  };
  const losetupJson = (devices: { name: string; file: string }[]) =>
    JSON.stringify({ loopdevices: devices.map((d) => ({ name: d.name, 'back-file': d.file, offset: 0, sizelimit: 0 })) });

  it('creates the desired volume, deletes our undesired one, leaves foreign files alone, and runs exactly these commands', async () => {
    const img = (name: string) => path.join(dir, `${name}.img`);
    writeFileSync(path.join(dir, 'notes.txt'), 'not ours');
    writeFileSync(path.join(dir, 'disk.img'), 'not ours either');
    writeFileSync(img('old_00000'), '');
    setDeviceSize('/dev/loop5', 0);
    const attached = losetupJson([{ name: '/dev/loop5', file: img('old_00000') }]);
    const df = ['df', '--output=size,avail', '--block-size=1', dir];
    const runner = new FakeCommandRunner()
      .expect(LIST, { stdout: attached }) // list()
      .expect(LIST, { stdout: attached }) // delete old_00000: its devices
      .expect(['losetup', '--detach', '/dev/loop5'])
      .expect(LIST, { stdout: readFileSync(path.join(FIXTURES, 'losetup-list-empty.json'), 'utf8') }) // create r1_00000
      .expect(['losetup', '--find', '--show', '--nooverlap', img('r1_00000')], { stdout: '/dev/loop7\n', effect: () => setDeviceSize('/dev/loop7', 4 * 1024 * 1024) })
      .expect(df, { stdout: readFileSync(path.join(FIXTURES, 'df-size-avail.txt'), 'utf8') });
    const providers = new CachingProviderSource({ runner }, (spec: PoolSpec): StorageProvider => new FileThinProvider(spec, { runner }, { sysfsRoot: sysfs }));
    const desired = state([pool('files', 'FILE_THIN', { 'StorDriver/FileDir': dir })], [vol('r1', 0, 'files', 4096)]);

    const report = await reconcile(desired, providers, log);

    runner.assertDone();
    expect(report).toEqual({
      revision: 7,
      converged: true,
      pools: [{ name: 'files', error: null, totalKib: String(270553174016 / 1024), freeKib: String(81195114496 / 1024) }],
      volumes: [
        { resource: 'old', volumeNumber: 0, state: 'DELETED', error: null },
        { resource: 'r1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/loop7', usableKib: '4096', allocatedKib: '0' },
      ],
    });
    expect(existsSync(img('old_00000'))).toBe(false);
    expect(existsSync(img('r1_00000'))).toBe(true);
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('not ours');
    expect(readFileSync(path.join(dir, 'disk.img'), 'utf8')).toBe('not ours either');
  });

  it('reports a missing pool directory as the pool\'s error and runs nothing', async () => {
    const runner = new FakeCommandRunner();
    const providers = new CachingProviderSource({ runner }, (spec: PoolSpec): StorageProvider => new FileThinProvider(spec, { runner }, { sysfsRoot: sysfs }));
    const missing = path.join(root, 'nope');
    const report = await reconcile(state([pool('files', 'FILE_THIN', { 'StorDriver/FileDir': missing })], [vol('r1', 0, 'files', 4096)]), providers, log);
    runner.assertDone();
    expect(report.pools[0]!.error).toContain(`directory '${missing}' (StorDriver/FileDir) does not exist`);
    expect(report.volumes[0]!.error).toMatch(/^pool files unusable: Storage pool 'files' \(FILE_THIN\): directory/);
  });
});

describe('CachingProviderSource', () => {
  it('keeps one provider per pool while kind and props stay the same, rebuilds it when they change, and forgets dropped pools', () => {
    const built: string[] = [];
    const source = new CachingProviderSource({ runner: new FakeCommandRunner() }, (spec) => {
      built.push(`${spec.name}:${spec.providerKind}:${JSON.stringify(spec.props)}`);
      return new FakeProvider(spec);
    });
    const a = source.providerFor(pool('a', 'LVM', { 'StorDriver/LvmVg': 'vg0', x: '1' }));
    expect(source.providerFor(pool('a', 'LVM', { x: '1', 'StorDriver/LvmVg': 'vg0' }))).toBe(a);
    const changedProps = source.providerFor(pool('a', 'LVM', { 'StorDriver/LvmVg': 'vg1', x: '1' }));
    expect(changedProps).not.toBe(a);
    const changedKind = source.providerFor(pool('a', 'LVM_THIN', { 'StorDriver/LvmVg': 'vg1', x: '1' }));
    expect(changedKind).not.toBe(changedProps);
    const b = source.providerFor(pool('b', 'ZFS'));
    source.retainOnly(new Set(['a']));
    expect(source.providerFor(pool('a', 'LVM_THIN', { 'StorDriver/LvmVg': 'vg1', x: '1' }))).toBe(changedKind);
    expect(source.providerFor(pool('b', 'ZFS'))).not.toBe(b);
    expect(built).toEqual([
      'a:LVM:{"StorDriver/LvmVg":"vg0","x":"1"}',
      'a:LVM:{"StorDriver/LvmVg":"vg1","x":"1"}',
      'a:LVM_THIN:{"StorDriver/LvmVg":"vg1","x":"1"}',
      'b:ZFS:{}',
      'b:ZFS:{}',
    ]);
  });

  it('hands the provider a copy of the props', () => {
    let spec: PoolSpec | undefined;
    const source = new CachingProviderSource({ runner: new FakeCommandRunner() }, (s) => {
      spec = s;
      return new FakeProvider(s);
    });
    const desired = pool('a', 'LVM', { 'StorDriver/LvmVg': 'vg0' });
    source.providerFor(desired);
    desired.props['StorDriver/LvmVg'] = 'changed';
    expect(spec!.props).toEqual({ 'StorDriver/LvmVg': 'vg0' });
  });
});

/**
 * A stand-in for the DRBD layer with the two methods reconcile() calls: it records what it was asked (and what the
 * storage providers had done by then), refuses the resources listed in `applyErrors`, and reports the resources in
 * `stuck` as impossible to take down.
 */
class FakeDrbdLayer {
  readonly calls: string[] = [];
  readonly applied = new Map<string, { resource: DesiredDrbdResource; backing: Map<number, BackingVolume> }>();
  readonly applyErrors = new Map<string, string>();
  readonly stuck = new Map<string, string>();
  /** The provider calls made before removeUnwanted() ran. */
  providerCallsAtRemove: string[] | null = null;

  constructor(private readonly providers: FakeProvider[] = []) {}

  async removeUnwanted(desired: readonly DesiredDrbdResource[]): Promise<Map<string, string>> {
    this.providerCallsAtRemove = this.providers.flatMap((p) => p.calls);
    this.calls.push(`removeUnwanted ${desired.map((r) => r.name).join(',')}`);
    return new Map(this.stuck);
  }

  async apply(resource: DesiredDrbdResource, backing: ReadonlyMap<number, BackingVolume>): Promise<DrbdApplyResult> {
    this.calls.push(`apply ${resource.name}`);
    this.applied.set(resource.name, { resource, backing: new Map(backing) });
    return { resource: resource.name, error: this.applyErrors.get(resource.name) ?? null };
  }

  /** reconcile() takes the real class; this fake has the part of it reconcile() uses. */
  asLayer(): DrbdLayer {
    return this as unknown as DrbdLayer;
  }
}

/** A DRBD resource with volumes [volumeNumber, minor, net size KiB]. */
function drbdResource(name: string, volumes: [number, number, number][], overrides: Partial<DesiredDrbdResource> = {}): DesiredDrbdResource {
  return desiredDrbdResource({ name, volumes: volumes.map(([volumeNumber, minor, sizeKib]) => ({ volumeNumber, minor, sizeKib: String(sizeKib) })), ...overrides });
}

const withDrbd = (base: DesiredState, drbdResources: DesiredDrbdResource[]): DesiredState => ({ ...base, drbdResources });

describe('reconcile with a DRBD layer', () => {
  it('puts DRBD on the created backing volumes: DRBD device, backing device and net size in the reports; grown volumes flagged', async () => {
    const p1 = fakeProvider('p1').seed('r1_00001', 100n);
    const drbd = new FakeDrbdLayer([p1]);
    // Backing volumes are gross (net + DRBD metadata); DRBD offers the net size.
    const desired = withDrbd(state([pool('p1')], [vol('r1', 0, 'p1', 1088), vol('r1', 1, 'p1', 2112)]), [drbdResource('r1', [[0, 1000, 1024], [1, 1001, 2048]])]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.calls).toEqual(['removeUnwanted r1', 'apply r1']);
    expect(drbd.applied.get('r1')?.backing).toEqual(
      new Map([
        [0, { devicePath: '/dev/fake/r1_00000', grown: false }],
        [1, { devicePath: '/dev/fake/r1_00001', grown: true }],
      ]),
    );
    expect(report).toEqual({
      revision: 7,
      converged: true,
      pools: [{ name: 'p1', error: null, totalKib: '1000000', freeKib: String(1_000_000 - 1088 - 2112) }],
      volumes: [
        { resource: 'r1', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/drbd1000', backingDevicePath: '/dev/fake/r1_00000', usableKib: '1024', allocatedKib: '1088' },
        { resource: 'r1', volumeNumber: 1, state: 'CREATED', error: null, devicePath: '/dev/drbd1001', backingDevicePath: '/dev/fake/r1_00001', usableKib: '2048', allocatedKib: '2112' },
      ],
    });
  });

  it('leaves DRBD alone for a resource whose storage failed, and configures the others', async () => {
    const p1 = fakeProvider('p1');
    p1.failures.set('create broken_00001', new Error('  Volume group "vg0" has insufficient free space'));
    const drbd = new FakeDrbdLayer([p1]);
    const desired = withDrbd(state([pool('p1')], [vol('broken', 0, 'p1', 64), vol('broken', 1, 'p1', 64), vol('fine', 0, 'p1', 64)]), [
      drbdResource('broken', [[0, 1000, 32], [1, 1001, 32]]),
      drbdResource('fine', [[0, 1002, 32]]),
    ]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.calls).toEqual(['removeUnwanted broken,fine', 'apply fine']);
    expect(report.converged).toBe(false);
    const byKey = new Map(report.volumes.map((v) => [`${v.resource}/${v.volumeNumber}`, v]));
    expect(byKey.get('broken/1')).toEqual({ resource: 'broken', volumeNumber: 1, state: 'FAILED', error: '  Volume group "vg0" has insufficient free space' });
    expect(byKey.get('fine/0')).toMatchObject({ state: 'CREATED', error: null, devicePath: '/dev/drbd1002', backingDevicePath: '/dev/fake/fine_00000', usableKib: '32' });
  });

  it('leaves DRBD alone for a resource with a volume whose pool is missing on the node', async () => {
    const p1 = fakeProvider('p1');
    const drbd = new FakeDrbdLayer([p1]);
    const desired = withDrbd(state([pool('p1')], [vol('r1', 0, 'p1', 64), vol('r1', 1, 'elsewhere', 64)]), [drbdResource('r1', [[0, 1000, 32], [1, 1001, 32]])]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.calls).toEqual(['removeUnwanted r1']);
    expect(report.converged).toBe(false);
  });

  it('fails the volumes of a resource DRBD refused with "DRBD: <message>" and does not converge', async () => {
    const p1 = fakeProvider('p1');
    const drbd = new FakeDrbdLayer([p1]);
    drbd.applyErrors.set('r1', "drbdadm refused the configuration of resource r1: r1.res.new:9: Parse error: 'disk | device' expected");
    const desired = withDrbd(state([pool('p1')], [vol('r1', 0, 'p1', 64), vol('r1', 1, 'p1', 64), vol('r2', 0, 'p1', 64)]), [
      drbdResource('r1', [[0, 1000, 32], [1, 1001, 32]]),
      drbdResource('r2', [[0, 1002, 32]]),
    ]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.calls).toEqual(['removeUnwanted r1,r2', 'apply r1', 'apply r2']);
    expect(report.converged).toBe(false);
    const message = "DRBD: drbdadm refused the configuration of resource r1: r1.res.new:9: Parse error: 'disk | device' expected";
    expect(report.volumes.map((v) => [`${v.resource}/${v.volumeNumber}`, v.state, v.error])).toEqual([
      ['r1/0', 'FAILED', message],
      ['r1/1', 'FAILED', message],
      ['r2/0', 'CREATED', null],
    ]);
    // The storage itself is fine and stays.
    expect(p1.volumes.has('r1_00000')).toBe(true);
  });

  it('takes DRBD down before deleting storage, and keeps the backing volumes of a resource that would not go down', async () => {
    const p1 = fakeProvider('p1').seed('held_00000', 64n).seed('gone_00000', 64n).seed('keep_00000', 64n);
    const drbd = new FakeDrbdLayer([p1]);
    drbd.stuck.set('held', 'held: State change failed: (-12) Device is held open by someone');
    const desired = withDrbd(state([pool('p1')], [vol('keep', 0, 'p1', 64)]), [drbdResource('keep', [[0, 1000, 32]])]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.providerCallsAtRemove).toEqual([]);
    expect(p1.calls).toEqual(['check', 'list', 'delete gone_00000', 'capacity']);
    expect(p1.volumes.has('held_00000')).toBe(true);
    expect(report.converged).toBe(false);
    expect(report.volumes.map((v) => [`${v.resource}/${v.volumeNumber}`, v.state])).toEqual([
      ['gone/0', 'DELETED'],
      ['keep/0', 'CREATED'],
    ]);

    // Once it goes down, the next pass deletes its storage and converges.
    drbd.stuck.clear();
    const next = await reconcile(desired, fakes(p1), log, drbd.asLayer());
    expect(p1.volumes.has('held_00000')).toBe(false);
    expect(next.converged).toBe(true);
  });

  it('reports the volumes of a diskless replica as CREATED on the DRBD device, without a backing device', async () => {
    const p1 = fakeProvider('p1');
    const drbd = new FakeDrbdLayer([p1]);
    // The controller sends no storage volumes for a diskless replica.
    const desired = withDrbd(state([pool('p1')], []), [drbdResource('client', [[0, 1003, 1024], [1, 1004, 2048]], { diskless: true })]);

    const report = await reconcile(desired, fakes(p1), log, drbd.asLayer());

    expect(drbd.calls).toEqual(['removeUnwanted client', 'apply client']);
    expect(drbd.applied.get('client')?.backing).toEqual(new Map());
    expect(report.converged).toBe(true);
    expect(report.volumes).toEqual([
      { resource: 'client', volumeNumber: 0, state: 'CREATED', error: null, devicePath: '/dev/drbd1003', backingDevicePath: null, usableKib: '1024', allocatedKib: '0' },
      { resource: 'client', volumeNumber: 1, state: 'CREATED', error: null, devicePath: '/dev/drbd1004', backingDevicePath: null, usableKib: '2048', allocatedKib: '0' },
    ]);
  });

  it('fails the volumes of a diskless replica DRBD refused', async () => {
    const drbd = new FakeDrbdLayer();
    drbd.applyErrors.set('client', 'adjust failed');
    const desired = withDrbd(state([], []), [drbdResource('client', [[0, 1003, 1024]], { diskless: true })]);

    const report = await reconcile(desired, fakes(), log, drbd.asLayer());

    expect(report.converged).toBe(false);
    expect(report.volumes.map((v) => [`${v.resource}/${v.volumeNumber}`, v.state, v.error])).toEqual([['client/0', 'FAILED', 'DRBD: adjust failed']]);
  });
});
