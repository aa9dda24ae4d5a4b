import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, ErrorCode, ImplementationError } from '../../../../../../src/common/api-rc.js';
import { CommandError } from '../../../../../../src/satellite/exec/command-runner.js';
import { FileProvider, FileThinProvider } from '../../../../../../src/satellite/layers/storage/file/provider.js';
import type { PoolSpec, StorageProvider } from '../../../../../../src/satellite/layers/storage/provider.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';

/**
 * The providers against a real temporary directory (files are cheap and fs behaviour is the point) with a scripted
 * runner in place of losetup/fallocate and a fake sysfs tree for loop device sizes. Each test states the exact
 * command sequence and fails on any other command or on a scripted command that did not run.
 */

const MiB = 1024n * 1024n;
const LIST = ['losetup', '--json', '--list', '--output', 'NAME,BACK-FILE,OFFSET,SIZELIMIT'];
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fixtures/commands');
const EMPTY_LIST = readFileSync(path.join(FIXTURES, 'losetup-list-empty.json'), 'utf8');

let root: string;
let dir: string;
let sysfs: string;
let runner: FakeCommandRunner;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(tmpdir(), 'bp-file-unit-')));
  dir = path.join(root, 'pool');
  sysfs = path.join(root, 'sys');
  mkdirSync(dir);
  runner = new FakeCommandRunner();
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A pool of the kind with StorDriver/FileDir set to `fileDir` (unset for null). */
const pool = (providerKind: 'FILE' | 'FILE_THIN', fileDir: string | null = dir): PoolSpec => ({
  name: 'p1',
  providerKind,
  props: fileDir === null ? {} : { 'StorDriver/FileDir': fileDir },
});
const thin = (fileDir?: string): FileThinProvider => new FileThinProvider(pool('FILE_THIN', fileDir), { runner }, { sysfsRoot: sysfs });
const thick = (fileDir?: string): FileProvider => new FileProvider(pool('FILE', fileDir), { runner }, { sysfsRoot: sysfs });
const img = (name: string): string => path.join(dir, `${name}.img`);

/** What `losetup --json --list` prints for these devices (same shape as the captured fixture). */
function losetupJson(devices: { name: string; file: string; offset?: number; sizelimit?: number }[]): string {
  return JSON.stringify({
    loopdevices: devices.map((d) => ({ name: d.name, 'back-file': d.file, offset: d.offset ?? 0, sizelimit: d.sizelimit ?? 0 })),
  });
}

/** Sets the size the fake kernel reports for a loop device, the way losetup would by attaching or set-capacity. */
function setDeviceSize(device: string, bytes: bigint): void {
  const entry = path.join(sysfs, 'class', 'block', path.basename(device));
  mkdirSync(entry, { recursive: true });
  writeFileSync(path.join(entry, 'size'), `${bytes / 512n}\n`);
}

function makeFile(name: string, bytes: bigint): string {
  const file = img(name);
  writeFileSync(file, '');
  truncateSync(file, Number(bytes));
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const FOREIGN_DEVICE = { name: '/dev/loop3', file: '/tmp/lvmexp/pv.img' };

describe('FileThinProvider.create', () => {
  it('new volume: creates a sparse owner-only file, finds no attachment, attaches it', async () => {
    runner
      .expect(LIST, { stdout: EMPTY_LIST })
      .expect(['losetup', '--find', '--show', '--nooverlap', img('r1_00000')], {
        stdout: '/dev/loop7\n',
        effect: () => setDeviceSize('/dev/loop7', 4n * MiB),
      });
    const volume = await thin().create({ name: 'r1_00000', sizeKib: 4096n });
    runner.assertDone();
    expect(volume).toEqual({ name: 'r1_00000', sizeKib: 4096n, allocatedKib: 0n, devicePath: '/dev/loop7' });
    const st = statSync(img('r1_00000'));
    expect(st.size).toBe(4 * 1024 * 1024);
    expect(st.blocks).toBe(0);
    expect(st.mode & 0o777).toBe(0o600);
    expect(runner.specs[1]!.purpose).toBe('storage pool p1: attach volume r1_00000 to a loop device');
  });

  it('existing, attached: reuses the whole-file device and runs nothing but the list', async () => {
    makeFile('r1_00000', 4n * MiB);
    setDeviceSize('/dev/loop6', 4n * MiB);
    runner.expect(LIST, {
      stdout: losetupJson([
        FOREIGN_DEVICE,
        // A partial view of our file and a device still holding an unlinked earlier file of the same name: not usable.
        { name: '/dev/loop1', file: img('r1_00000'), offset: 4096 },
        { name: '/dev/loop2', file: `${img('r1_00000')} (deleted)` },
        { name: '/dev/loop6', file: img('r1_00000') },
      ]),
    });
    const volume = await thin().create({ name: 'r1_00000', sizeKib: 2048n });
    runner.assertDone();
    expect(volume).toEqual({ name: 'r1_00000', sizeKib: 4096n, allocatedKib: 0n, devicePath: '/dev/loop6' });
    expect(statSync(img('r1_00000')).size).toBe(4 * 1024 * 1024);
  });

  it('existing, detached (e.g. after a reboot): attaches the existing file without touching its data', async () => {
    makeFile('r1_00000', 4n * MiB);
    writeFileSync(img('r1_00000'), 'data', { flag: 'r+' });
    runner
      .expect(LIST, { stdout: losetupJson([FOREIGN_DEVICE, { name: '/dev/loop2', file: `${img('r1_00000')} (deleted)` }]) })
      .expect(['losetup', '--find', '--show', '--nooverlap', img('r1_00000')], {
        stdout: '/dev/loop4\n',
        effect: () => setDeviceSize('/dev/loop4', 4n * MiB),
      });
    const volume = await thin().create({ name: 'r1_00000', sizeKib: 4096n });
    runner.assertDone();
    expect(volume.devicePath).toBe('/dev/loop4');
    expect(readFileSync(img('r1_00000')).subarray(0, 4).toString()).toBe('data');
    expect(volume.allocatedKib).toBeGreaterThan(0n);
  });

  it('existing but smaller (interrupted create or resize): grows the file and refreshes the attached device', async () => {
    makeFile('r1_00000', 1n * MiB);
    setDeviceSize('/dev/loop6', 1n * MiB);
    runner
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop6', file: img('r1_00000') }]) })
      .expect(['losetup', '--set-capacity', '/dev/loop6'], { effect: () => setDeviceSize('/dev/loop6', 3n * MiB) });
    const volume = await thin().create({ name: 'r1_00000', sizeKib: 3072n });
    runner.assertDone();
    expect(volume).toMatchObject({ sizeKib: 3072n, devicePath: '/dev/loop6' });
    expect(statSync(img('r1_00000')).size).toBe(3 * 1024 * 1024);
  });

  it('resolves a symlinked pool directory, because losetup reports canonical back-file paths', async () => {
    const link = path.join(root, 'link-to-pool');
    symlinkSync(dir, link);
    makeFile('r1_00000', 1n * MiB);
    setDeviceSize('/dev/loop6', 1n * MiB);
    runner.expect(LIST, { stdout: losetupJson([{ name: '/dev/loop6', file: img('r1_00000') }]) });
    expect((await thin(link).create({ name: 'r1_00000', sizeKib: 1024n })).devicePath).toBe('/dev/loop6');
    runner.assertDone();
  });

  it('serializes concurrent creates of the same volume, so the file is attached once', async () => {
    runner
      .expect(LIST, { stdout: EMPTY_LIST })
      .expect(['losetup', '--find', '--show', '--nooverlap', img('r1_00000')], {
        stdout: '/dev/loop7\n',
        effect: () => setDeviceSize('/dev/loop7', 1n * MiB),
      })
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop7', file: img('r1_00000') }]) });
    // Two provider instances, as two reconcile passes would build them.
    const [a, b] = await Promise.all([thin().create({ name: 'r1_00000', sizeKib: 1024n }), thin().create({ name: 'r1_00000', sizeKib: 1024n })]);
    runner.assertDone();
    expect([a.devicePath, b.devicePath]).toEqual(['/dev/loop7', '/dev/loop7']);
  });

  it('refuses names blockplane does not create and invalid sizes, before running anything', async () => {
    for (const name of ['notes', '../etc/passwd', 'r1_0', 'r1_00000.img']) {
      const error = await rejection(thin().create({ name, sizeKib: 1024n }));
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe(ErrorCode.INVALID_NAME);
    }
    for (const sizeKib of [0n, -1n, 2n ** 60n]) {
      const error = await rejection(thin().create({ name: 'r1_00000', sizeKib }));
      expect((error as ApiError).code).toBe(ErrorCode.INVALID_SIZE);
    }
    runner.assertDone();
    expect(existsSync(img('r1_00000'))).toBe(false);
  });

  it('refuses to use a symlink or directory that has a backing file name', async () => {
    symlinkSync('/etc/hostname', img('r1_00000'));
    mkdirSync(img('r2_00000'));
    for (const name of ['r1_00000', 'r2_00000']) {
      const error = await rejection(thin().create({ name, sizeKib: 1024n }));
      expect((error as ApiError).code).toBe(ErrorCode.NOT_ALLOWED);
      expect(error.message).toContain('is not a regular file');
    }
    runner.assertDone();
  });
});

describe('FileProvider.create (thick)', () => {
  const fallocateArgv = (name: string, bytes: bigint): string[] => ['fallocate', '--length', String(bytes), img(name)];

  it('new volume: fallocates the full size, then lists and attaches', async () => {
    runner
      .expect(fallocateArgv('r1_00000', 4n * MiB), { effect: () => truncateSync(img('r1_00000'), Number(4n * MiB)) })
      .expect(LIST, { stdout: EMPTY_LIST })
      .expect(['losetup', '--find', '--show', '--nooverlap', img('r1_00000')], {
        stdout: '/dev/loop0\n',
        effect: () => setDeviceSize('/dev/loop0', 4n * MiB),
      });
    const volume = await thick().create({ name: 'r1_00000', sizeKib: 4096n });
    runner.assertDone();
    // Thick: the whole size counts as allocated, whatever the filesystem did with the blocks.
    expect(volume).toEqual({ name: 'r1_00000', sizeKib: 4096n, allocatedKib: 4096n, devicePath: '/dev/loop0' });
    expect(statSync(img('r1_00000')).mode & 0o777).toBe(0o600);
    expect(runner.specs[0]!.timeoutMs).toBeGreaterThanOrEqual(60_000);
  });

  it('existing and large enough: no fallocate', async () => {
    makeFile('r1_00000', 4n * MiB);
    setDeviceSize('/dev/loop0', 4n * MiB);
    runner.expect(LIST, { stdout: losetupJson([{ name: '/dev/loop0', file: img('r1_00000') }]) });
    expect(await thick().create({ name: 'r1_00000', sizeKib: 4096n })).toMatchObject({ devicePath: '/dev/loop0', sizeKib: 4096n });
    runner.assertDone();
  });

  it('removes the file it just created when fallocate fails, and says why FILE needs fallocate', async () => {
    runner.expect(fallocateArgv('r1_00000', 4n * MiB), { exitCode: 1, stderr: 'fallocate: fallocate failed: Operation not supported\n' });
    const error = await rejection(thick().create({ name: 'r1_00000', sizeKib: 4096n }));
    runner.assertDone();
    expect(error).toBeInstanceOf(CommandError);
    expect(error.message).toContain('use FILE_THIN otherwise');
    expect(error.message).toContain('Operation not supported');
    expect(existsSync(img('r1_00000'))).toBe(false);
  });

  it('keeps an existing file when growing it fails', async () => {
    makeFile('r1_00000', 1n * MiB);
    runner.expect(fallocateArgv('r1_00000', 4n * MiB), { exitCode: 1, stderr: 'fallocate: fallocate failed: No space left on device\n' });
    await expect(thick().create({ name: 'r1_00000', sizeKib: 4096n })).rejects.toThrow(/No space left on device/);
    runner.assertDone();
    expect(statSync(img('r1_00000')).size).toBe(1024 * 1024);
  });
});

describe('resize', () => {
  it('FILE_THIN: grows the sparse file, then refreshes the loop device', async () => {
    makeFile('r1_00000', 1n * MiB);
    setDeviceSize('/dev/loop4', 1n * MiB);
    runner
      .expect(LIST, { stdout: losetupJson([FOREIGN_DEVICE, { name: '/dev/loop4', file: img('r1_00000') }]) })
      .expect(['losetup', '--set-capacity', '/dev/loop4'], { effect: () => setDeviceSize('/dev/loop4', 2n * MiB) });
    const volume = await thin().resize({ name: 'r1_00000', sizeKib: 2048n });
    runner.assertDone();
    expect(volume).toEqual({ name: 'r1_00000', sizeKib: 2048n, allocatedKib: 0n, devicePath: '/dev/loop4' });
    expect(statSync(img('r1_00000')).size).toBe(2 * 1024 * 1024);
  });

  it('FILE: fallocates the new size, then refreshes every whole-file device of it', async () => {
    makeFile('r1_00000', 1n * MiB);
    setDeviceSize('/dev/loop4', 1n * MiB);
    setDeviceSize('/dev/loop9', 1n * MiB);
    runner
      .expect(['fallocate', '--length', String(2n * MiB), img('r1_00000')], { effect: () => truncateSync(img('r1_00000'), Number(2n * MiB)) })
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop9', file: img('r1_00000') }, { name: '/dev/loop4', file: img('r1_00000') }]) })
      .expect(['losetup', '--set-capacity', '/dev/loop4'], { effect: () => setDeviceSize('/dev/loop4', 2n * MiB) })
      .expect(['losetup', '--set-capacity', '/dev/loop9'], { effect: () => setDeviceSize('/dev/loop9', 2n * MiB) });
    const volume = await thick().resize({ name: 'r1_00000', sizeKib: 2048n });
    runner.assertDone();
    expect(volume).toEqual({ name: 'r1_00000', sizeKib: 2048n, allocatedKib: 2048n, devicePath: '/dev/loop4' });
  });

  it('never shrinks: a smaller size leaves file and device alone', async () => {
    makeFile('r1_00000', 2n * MiB);
    setDeviceSize('/dev/loop4', 2n * MiB);
    runner.expect(LIST, { stdout: losetupJson([{ name: '/dev/loop4', file: img('r1_00000') }]) });
    expect((await thick().resize({ name: 'r1_00000', sizeKib: 1024n })).sizeKib).toBe(2048n);
    runner.assertDone();
    expect(statSync(img('r1_00000')).size).toBe(2 * 1024 * 1024);
  });

  it('finishes a resize interrupted after the file grew: the lagging device is refreshed', async () => {
    makeFile('r1_00000', 2n * MiB);
    setDeviceSize('/dev/loop4', 1n * MiB);
    runner
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop4', file: img('r1_00000') }]) })
      .expect(['losetup', '--set-capacity', '/dev/loop4'], { effect: () => setDeviceSize('/dev/loop4', 2n * MiB) });
    expect((await thin().resize({ name: 'r1_00000', sizeKib: 2048n })).sizeKib).toBe(2048n);
    runner.assertDone();
  });

  it('reports the size the device offers, not the file size, while the device lags behind', async () => {
    makeFile('r1_00000', 2n * MiB);
    setDeviceSize('/dev/loop4', 1n * MiB);
    runner.expect(LIST, { stdout: losetupJson([{ name: '/dev/loop4', file: img('r1_00000') }]) });
    expect(await thin().list()).toEqual([{ name: 'r1_00000', sizeKib: 1024n, allocatedKib: 0n, devicePath: '/dev/loop4' }]);
    runner.assertDone();
  });

  it('of a detached volume: grows the file only; create() attaches', async () => {
    makeFile('r1_00000', 1n * MiB);
    runner.expect(LIST, { stdout: EMPTY_LIST });
    expect(await thin().resize({ name: 'r1_00000', sizeKib: 2048n })).toEqual({
      name: 'r1_00000',
      sizeKib: 2048n,
      allocatedKib: 0n,
      devicePath: null,
    });
    runner.assertDone();
  });

  it('of a missing volume: NOT_FOUND, nothing run', async () => {
    const error = await rejection(thin().resize({ name: 'r1_00000', sizeKib: 2048n }));
    expect((error as ApiError).code).toBe(ErrorCode.NOT_FOUND);
    expect(error.message).toContain(img('r1_00000'));
    runner.assertDone();
  });
});

describe('delete', () => {
  it('detaches every device backed by the file (also one holding an unlinked copy), then removes the file', async () => {
    makeFile('r1_00000', 1n * MiB);
    runner
      .expect(LIST, {
        stdout: losetupJson([
          { name: '/dev/loop5', file: img('r1_00000') },
          FOREIGN_DEVICE,
          { name: '/dev/loop1', file: `${img('r1_00000')} (deleted)` },
          { name: '/dev/loop2', file: img('r1_00000'), offset: 512 },
          { name: '/dev/loop8', file: img('r1_00001') },
        ]),
      })
      .expect(['losetup', '--detach', '/dev/loop5'])
      .expect(['losetup', '--detach', '/dev/loop1'])
      .expect(['losetup', '--detach', '/dev/loop2']);
    await thin().delete('r1_00000');
    runner.assertDone();
    expect(existsSync(img('r1_00000'))).toBe(false);
  });

  it('is a no-op for a volume that does not exist (but still detaches orphaned devices)', async () => {
    runner.expect(LIST, { stdout: EMPTY_LIST });
    await thick().delete('r1_00000');
    runner
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop1', file: `${img('r1_00000')} (deleted)` }]) })
      .expect(['losetup', '--detach', '/dev/loop1']);
    await thick().delete('r1_00000');
    runner.assertDone();
  });

  it('treats a device that vanished between list and detach as detached', async () => {
    makeFile('r1_00000', 1n * MiB);
    runner
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop5', file: img('r1_00000') }]) })
      .expect(['losetup', '--detach', '/dev/loop5'], { exitCode: 1, stderr: 'losetup: /dev/loop5: detach failed: No such device or address\n' });
    await thin().delete('r1_00000');
    runner.assertDone();
    expect(existsSync(img('r1_00000'))).toBe(false);
  });

  it('keeps the file when a detach really fails', async () => {
    makeFile('r1_00000', 1n * MiB);
    runner
      .expect(LIST, { stdout: losetupJson([{ name: '/dev/loop5', file: img('r1_00000') }]) })
      .expect(['losetup', '--detach', '/dev/loop5'], { exitCode: 1, stderr: 'losetup: /dev/loop5: detach failed: Permission denied\n' });
    await expect(thin().delete('r1_00000')).rejects.toThrow(/storage pool p1: detach \/dev\/loop5 from volume r1_00000: `losetup --detach \/dev\/loop5` exited with 1/);
    runner.assertDone();
    expect(existsSync(img('r1_00000'))).toBe(true);
  });

  it('refuses foreign names and non-regular files, running nothing and removing nothing', async () => {
    writeFileSync(path.join(dir, 'notes.txt'), 'keep');
    for (const name of ['notes.txt', 'notes', '../pool/notes', '']) {
      const error = await rejection(thin().delete(name));
      expect((error as ApiError).code).toBe(ErrorCode.NOT_ALLOWED);
      expect(error.message).toContain('not a backing volume name blockplane creates');
    }
    symlinkSync(path.join(dir, 'notes.txt'), img('r1_00000'));
    expect(((await rejection(thin().delete('r1_00000'))) as ApiError).code).toBe(ErrorCode.NOT_ALLOWED);
    runner.assertDone();
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('keep');
    expect(existsSync(img('r1_00000'))).toBe(true);
  });
});

describe('list', () => {
  it('lists only regular <backing volume name>.img files, sorted, with one losetup call', async () => {
    makeFile('r2_00000', 2n * MiB);
    makeFile('r1_00001', 1n * MiB);
    writeFileSync(path.join(dir, 'notes.txt'), 'foreign');
    writeFileSync(path.join(dir, 'r1_00000'), 'no suffix');
    writeFileSync(path.join(dir, 'bad name_00000.img'), 'not a LINSTOR name');
    writeFileSync(path.join(dir, 'r1_0.img'), 'volume number not 5 digits');
    mkdirSync(path.join(dir, 'r3_00000.img'));
    symlinkSync(img('r2_00000'), img('r4_00000'));
    setDeviceSize('/dev/loop2', 2n * MiB);
    runner.expect(LIST, { stdout: losetupJson([FOREIGN_DEVICE, { name: '/dev/loop2', file: img('r2_00000') }]) });
    expect(await thin().list()).toEqual([
      { name: 'r1_00001', sizeKib: 1024n, allocatedKib: 0n, devicePath: null },
      { name: 'r2_00000', sizeKib: 2048n, allocatedKib: 0n, devicePath: '/dev/loop2' },
    ]);
    runner.assertDone();
  });

  it('reports FILE_THIN allocation from st_blocks and FILE allocation as the full size', async () => {
    makeFile('r1_00000', 1n * MiB);
    writeFileSync(img('r1_00000'), Buffer.alloc(64 * 1024, 1), { flag: 'r+' });
    const blocks = BigInt(statSync(img('r1_00000')).blocks);
    runner.expect(LIST, { stdout: EMPTY_LIST }).expect(LIST, { stdout: EMPTY_LIST });
    expect((await thin().list())[0]!.allocatedKib).toBe((blocks * 512n + 1023n) / 1024n);
    expect((await thin().list())[0]!.allocatedKib).toBeGreaterThanOrEqual(64n);
    runner.expect(LIST, { stdout: EMPTY_LIST });
    expect((await thick().list())[0]!.allocatedKib).toBe(1024n);
    runner.assertDone();
  });

  it('runs no command for an empty directory', async () => {
    writeFileSync(path.join(dir, 'notes.txt'), 'foreign');
    expect(await thin().list()).toEqual([]);
    runner.assertDone();
  });
});

describe('capacity', () => {
  it('is the size and available space df reports for the directory, in whole KiB, for FILE and FILE_THIN alike', async () => {
    const df = ['df', '--output=size,avail', '--block-size=1', dir];
    runner
      .expect(df, { stdout: readFileSync(path.join(FIXTURES, 'df-size-avail.txt'), 'utf8') })
      .expect(df, { stdout: '   1B-blocks       Avail\n10486783 5243903\n' });
    expect(await thin().capacity()).toEqual({ totalKib: 264212084n, freeKib: 79292104n });
    // Partial KiB are dropped: free space is never overstated.
    expect(await thick().capacity()).toEqual({ totalKib: 10240n, freeKib: 5120n });
    expect(runner.specs[0]!.purpose).toBe('storage pool p1: read filesystem capacity');
    runner.assertDone();
  });
});

describe('check', () => {
  const checkError = async (provider: StorageProvider): Promise<ApiError> => {
    const error = await rejection(provider.check());
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(ErrorCode.INVALID_PROPERTY);
    expect((error as ApiError).field).toBe('props["StorDriver/FileDir"]');
    return error as ApiError;
  };

  it('passes for an existing writable directory, also through a symlink', async () => {
    await thin().check();
    symlinkSync(dir, path.join(root, 'link'));
    await thick(path.join(root, 'link')).check();
    runner.assertDone();
  });

  it('names a missing directory and how to create it', async () => {
    const missing = path.join(root, 'nope', 'pool');
    const error = await checkError(thin(missing));
    expect(error.message).toBe(
      `Storage pool 'p1' (FILE_THIN): directory '${missing}' (StorDriver/FileDir) does not exist. ` +
        `Create it on this node (mkdir -p '${missing}'), or set StorDriver/FileDir to an existing directory.`,
    );
    expect(error.correction).toContain(`mkdir -p '${missing}'`);
  });

  it('names a file given as the directory', async () => {
    writeFileSync(path.join(root, 'plain'), '');
    expect((await checkError(thick(path.join(root, 'plain')))).message).toContain(`'${path.join(root, 'plain')}' (StorDriver/FileDir) is not a directory`);
    expect((await checkError(thick(path.join(root, 'plain', 'sub')))).message).toContain('does not exist');
  });

  it('asks for the property when it is missing, and for an absolute path', async () => {
    expect((await checkError(new FileThinProvider(pool('FILE_THIN', null), { runner }))).message).toContain(
      "the property StorDriver/FileDir is not set. Set StorDriver/FileDir on the storage pool to the directory for its backing files, e.g. '/var/lib/blockplane/p1'",
    );
    expect((await checkError(thin('pool'))).message).toContain("StorDriver/FileDir 'pool' is not an absolute path");
  });

  it('makes the other operations fail with the same message', async () => {
    const missing = path.join(root, 'nope');
    // Before any command runs: the empty script would reject anything else.
    // Thunks, so that no rejection is left unobserved while an earlier one is awaited.
    for (const op of [() => thin(missing).list(), () => thin(missing).capacity(), () => thin(missing).create({ name: 'r1_00000', sizeKib: 1n })]) {
      expect((await rejection(op())).message).toContain(`directory '${missing}' (StorDriver/FileDir) does not exist`);
    }
    runner.assertDone();
  });
});

describe('construction', () => {
  it('refuses a pool of another provider kind (a wiring bug, not a user error)', () => {
    expect(() => new FileProvider(pool('FILE_THIN'), { runner })).toThrow(ImplementationError);
    expect(() => new FileThinProvider(pool('FILE'), { runner })).toThrow(/FILE_THIN provider constructed for pool 'p1' of kind FILE/);
    expect(new FileProvider(pool('FILE'), { runner }).kind).toBe('FILE');
    expect(new FileThinProvider(pool('FILE_THIN'), { runner }).kind).toBe('FILE_THIN');
  });
});
