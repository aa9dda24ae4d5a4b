/**
 * Builds (once per kernel package version, then from the cache) what a kernel-lane guest boots: Debian's own kernel
 * (the `linux-image-<abi>-amd64` package that `linux-image-amd64` points to, downloaded with `apt-get download` and
 * unpacked with `dpkg-deb -x`, never installed on the host) and a small initramfs: busybox-static, the kernel
 * modules the lane needs with their dependencies (from `modprobe --show-depends` on the unpacked tree), and
 * guest-init.sh as /init. Everything else the guest runs (node, lvm2, drbd-utils) is the host's, shared read-only.
 *
 * Every missing prerequisite is a {@link LanePrerequisiteError} that names the install step: the lane never skips.
 */
import { createHash } from 'node:crypto';
import { access, copyFile, chmod, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * The modules the guest loads (each with its dependencies, in this order). crc32c_generic first: libcrc32c (needed
 * by dm-persistent-data and drbd) has only a softdep on a crc32c provider, which busybox's insmod does not follow.
 */
export const GUEST_MODULES = [
  'crc32c_generic',
  'virtio_pci',
  'virtio_console',
  'virtio_blk',
  'virtio_net',
  '9pnet_virtio',
  '9p',
  'loop',
  'ext4',
  'dm-mod',
  'dm-thin-pool',
  'drbd',
] as const;

/** The Debian metapackage whose dependency names the current kernel package. */
export const KERNEL_METAPACKAGE = 'linux-image-amd64';

/** A prerequisite of the lane is missing; the message says which and how to install it. */
export class LanePrerequisiteError extends Error {
  constructor(what: string, install: string, detail?: string) {
    super(`The real-kernel lane needs ${what}${detail ? ` (${detail})` : ''}. Install it with: ${install}`);
    this.name = 'LanePrerequisiteError';
  }
}

/** What a guest boots. */
export interface LaneImage {
  /** e.g. linux-image-6.1.0-56-amd64 */
  kernelPackage: string;
  /** e.g. 6.1.192-2 */
  kernelPackageVersion: string;
  /** `uname -r` of the guest, e.g. 6.1.0-56-amd64 */
  kernelRelease: string;
  vmlinuz: string;
  initrd: string;
  /** True when this call built the image (cache miss), with how long it took. */
  built: boolean;
  buildMs: number;
}

/** The lane's cache: `$BLOCKPLANE_KERNEL_LANE_CACHE`, else `$XDG_CACHE_HOME/blockplane-kernel-lane`, else ~/.cache/... */
export function laneCacheDir(): string {
  if (process.env.BLOCKPLANE_KERNEL_LANE_CACHE) return path.resolve(process.env.BLOCKPLANE_KERNEL_LANE_CACHE);
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'blockplane-kernel-lane');
}

/** A program the lane needs on the host, and how to install it. */
export interface HostProgram {
  file: string;
  what: string;
  install: string;
}

/** Host programs the lane runs (on the host, or in the guest through the read-only share), with their install step. */
export const HOST_PROGRAMS: readonly HostProgram[] = [
  { file: '/usr/bin/qemu-system-x86_64', what: 'qemu (qemu-system-x86_64)', install: 'apt-get install --no-install-recommends qemu-system-x86' },
  { file: '/usr/bin/setpriv', what: 'setpriv (util-linux), so that guests die with the test process', install: 'apt-get install util-linux' },
  { file: '/usr/bin/dpkg-deb', what: 'dpkg-deb, to unpack the kernel package', install: 'apt-get install dpkg' },
  { file: '/usr/bin/apt-get', what: 'apt-get, to download the kernel package', install: 'apt-get install apt' },
  { file: '/usr/sbin/depmod', what: 'kmod (depmod, modprobe), to find the modules the guest needs', install: 'apt-get install kmod' },
  { file: '/usr/sbin/lvcreate', what: 'lvm2 (run inside the guest)', install: 'apt-get install lvm2' },
  { file: '/usr/sbin/thin_check', what: 'thin-provisioning-tools (lvm2 checks thin pools with thin_check, inside the guest)', install: 'apt-get install thin-provisioning-tools' },
  { file: '/usr/sbin/drbdadm', what: 'drbd-utils (run inside the guest)', install: 'apt-get install drbd-utils' },
  { file: '/usr/lib/drbd/drbdadm-84', what: "drbd-utils' DRBD 8.4 tools (/usr/lib/drbd/drbdadm-84)", install: 'apt-get install drbd-utils' },
  { file: '/usr/sbin/mkfs.ext4', what: 'e2fsprogs (mkfs.ext4, inside the guest)', install: 'apt-get install e2fsprogs' },
  { file: '/usr/sbin/losetup', what: 'util-linux (losetup, inside the guest)', install: 'apt-get install util-linux' },
];

/**
 * Checks every host program the lane needs (and that /bin/busybox is busybox-static); throws a LanePrerequisiteError
 * naming the first missing one and its install step.
 */
export async function checkHostPrograms(programs: readonly HostProgram[] = HOST_PROGRAMS): Promise<void> {
  for (const program of programs) {
    if (!(await exists(program.file))) throw new LanePrerequisiteError(program.what, program.install, `${program.file} is missing`);
  }
  await staticBusybox();
}

/**
 * The kernel image and initramfs for the current kernel package, from the cache or built now.
 * @param log progress lines (cache hit/miss, download, build), e.g. console.log
 */
export async function prepareImage(log: (line: string) => void = () => {}): Promise<LaneImage> {
  await checkHostPrograms();
  const busybox = await staticBusybox();
  const { kernelPackage, version } = await resolveKernelPackage();
  const init = await readFile(path.join(HERE, 'guest-init.sh'));
  const busyboxVersion = (await execa(busybox, ['--help'], { reject: false })).stdout.split('\n')[0] ?? '';
  const recipe = createHash('sha256').update(init).update(GUEST_MODULES.join(',')).update(busyboxVersion).digest('hex').slice(0, 12);
  const key = `${kernelPackage}_${version}_${recipe}`;
  const imagesDir = path.join(laneCacheDir(), 'images');
  const dir = path.join(imagesDir, key);
  const manifestFile = path.join(dir, 'manifest.json');
  const cached = await readFile(manifestFile, 'utf8').then((t) => JSON.parse(t) as LaneImage, () => null);
  if (cached) {
    // Marks the image as used, for pruneImages.
    const now = new Date();
    await utimes(manifestFile, now, now);
    log(`kernel lane: ${kernelPackage} ${version} from the cache (${dir})`);
    return { ...cached, vmlinuz: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.gz'), built: false, buildMs: 0 };
  }

  const started = performance.now();
  log(`kernel lane: building the guest image for ${kernelPackage} ${version} in ${dir}`);
  const work = path.join(imagesDir, `.build-${process.pid}-${Date.now()}`);
  await mkdir(work, { recursive: true });
  try {
    const deb = await downloadKernel(kernelPackage, version, work);
    const kroot = path.join(work, 'kernel');
    await execa('dpkg-deb', ['-x', deb, kroot]);
    await rm(deb);
    const modulesDir = path.join(kroot, 'lib', 'modules');
    const releases = await readdir(modulesDir);
    if (releases.length !== 1) throw new Error(`${kernelPackage} holds ${releases.length} module trees (${releases.join(', ')}), expected one`);
    const kernelRelease = releases[0]!;
    await execa('depmod', ['-b', kroot, kernelRelease]);
    const order = await moduleClosure(kroot, kernelRelease);

    const root = path.join(work, 'initramfs');
    const moduleRoot = path.join(root, 'lib', 'modules', kernelRelease);
    for (const module of order) {
      await mkdir(path.dirname(path.join(moduleRoot, module)), { recursive: true });
      await copyFile(path.join(modulesDir, kernelRelease, module), path.join(moduleRoot, module));
    }
    await writeFile(path.join(moduleRoot, 'lane-order'), `${order.join('\n')}\n`);
    // modules.dep for busybox's modprobe, which the kernel calls for modules it loads on demand.
    await execa('depmod', ['-b', root, kernelRelease]);
    for (const dir of ['bin', 'sbin', 'proc', 'sys', 'dev', 'host']) await mkdir(path.join(root, dir), { recursive: true });
    await copyFile(busybox, path.join(root, 'bin', 'busybox'));
    await chmod(path.join(root, 'bin', 'busybox'), 0o755);
    const applets = (await execa(busybox, ['--list'])).stdout.split('\n').filter((a) => /^[a-z0-9_.-]+$/.test(a) && a !== 'busybox');
    for (const applet of applets) await symlink('busybox', path.join(root, 'bin', applet));
    await symlink('../bin/busybox', path.join(root, 'sbin', 'modprobe'));
    await writeFile(path.join(root, 'init'), init, { mode: 0o755 });
    const files = (await walk(root)).map((f) => `./${path.relative(root, f)}`);
    const cpio = await execa(busybox, ['cpio', '-o', '-H', 'newc'], { cwd: root, input: `.\n${files.join('\n')}\n`, encoding: 'buffer', stripFinalNewline: false });

    const out = path.join(work, 'out');
    await mkdir(out);
    await writeFile(path.join(out, 'initrd.gz'), gzipSync(cpio.stdout, { level: 1 }));
    await copyFile(path.join(kroot, 'boot', `vmlinuz-${kernelRelease}`), path.join(out, 'vmlinuz'));
    const image: LaneImage = {
      kernelPackage,
      kernelPackageVersion: version,
      kernelRelease,
      vmlinuz: path.join(dir, 'vmlinuz'),
      initrd: path.join(dir, 'initrd.gz'),
      built: true,
      buildMs: Math.round(performance.now() - started),
    };
    await writeFile(path.join(out, 'manifest.json'), `${JSON.stringify(image, null, 2)}\n`);
    await rename(out, dir).catch(async (error: unknown) => {
      // Another run built the same image meanwhile: keep theirs.
      if (!(await exists(manifestFile))) throw error;
    });
    log(`kernel lane: built ${dir} in ${image.buildMs} ms (initrd ${(await stat(image.initrd)).size} bytes)`);
    await pruneImages(imagesDir, key, log);
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Images not used for this long are removed when a new one is built (a kernel update leaves the old one behind). */
const IMAGE_MAX_UNUSED_MS = 30 * 24 * 3600 * 1000;

async function pruneImages(imagesDir: string, keep: string, log: (line: string) => void): Promise<void> {
  for (const entry of await readdir(imagesDir)) {
    if (entry === keep) continue;
    if (entry.startsWith('.build-')) {
      // Left by a run that was killed while building (the unpacked kernel alone is 400 MB).
      const started = await stat(path.join(imagesDir, entry)).then((s) => s.mtimeMs, () => Date.now());
      if (Date.now() - started > 3600 * 1000) await rm(path.join(imagesDir, entry), { recursive: true, force: true });
      continue;
    }
    const used = await stat(path.join(imagesDir, entry, 'manifest.json')).then((s) => s.mtimeMs, () => 0);
    if (Date.now() - used > IMAGE_MAX_UNUSED_MS) {
      await rm(path.join(imagesDir, entry), { recursive: true, force: true });
      log(`kernel lane: removed the unused image ${entry} from the cache`);
    }
  }
}

/** The kernel package `linux-image-amd64` depends on (or `$BLOCKPLANE_KERNEL_PACKAGE`) and its candidate version. */
async function resolveKernelPackage(): Promise<{ kernelPackage: string; version: string }> {
  const update = 'apt-get update (the package lists are missing or stale)';
  let kernelPackage = process.env.BLOCKPLANE_KERNEL_PACKAGE;
  if (!kernelPackage) {
    const depends = await execa('apt-cache', ['depends', KERNEL_METAPACKAGE], { reject: false });
    kernelPackage = /Depends: (linux-image-\S+)/.exec(depends.stdout)?.[1];
    if (!kernelPackage) {
      throw new LanePrerequisiteError(
        `the Debian kernel package (what ${KERNEL_METAPACKAGE} depends on)`,
        update,
        `apt-cache depends ${KERNEL_METAPACKAGE} said: ${(depends.stderr || depends.stdout).trim() || 'nothing'}`,
      );
    }
  }
  const policy = await execa('apt-cache', ['policy', kernelPackage], { reject: false });
  const version = /Candidate: (\S+)/.exec(policy.stdout)?.[1];
  if (!version || version === '(none)') {
    throw new LanePrerequisiteError(`the kernel package ${kernelPackage}`, update, `apt-cache policy ${kernelPackage} shows no candidate version`);
  }
  return { kernelPackage, version };
}

async function downloadKernel(kernelPackage: string, version: string, dir: string): Promise<string> {
  // Sandbox user root: as root, apt would otherwise warn that its _apt user cannot write to `dir`.
  const result = await execa('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', `${kernelPackage}=${version}`], { cwd: dir, reject: false });
  const deb = (await readdir(dir)).find((f) => f.startsWith(`${kernelPackage}_`) && f.endsWith('.deb'));
  if (result.exitCode !== 0 || !deb) {
    throw new LanePrerequisiteError(
      `the kernel package ${kernelPackage}=${version} (downloaded, never installed)`,
      `apt-get update && apt-get download ${kernelPackage}`,
      `apt-get download failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
  return path.join(dir, deb);
}

/** GUEST_MODULES with their dependencies, in load order, as paths relative to /lib/modules/<release>/. */
async function moduleClosure(kroot: string, kernelRelease: string): Promise<string[]> {
  const base = path.join(kroot, 'lib', 'modules', kernelRelease);
  const order: string[] = [];
  for (const module of GUEST_MODULES) {
    const result = await execa('modprobe', ['-d', kroot, '-S', kernelRelease, '--show-depends', module], { reject: false });
    if (result.exitCode !== 0) throw new Error(`${module} is not a module of ${kernelRelease}: ${result.stderr.trim()}`);
    for (const line of result.stdout.split('\n')) {
      // "insmod /path/x.ko " per module; "builtin x" for what the kernel has built in.
      const m = /^insmod (\S+)/.exec(line.trim());
      if (!m) continue;
      const relative = path.relative(base, m[1]!);
      if (!order.includes(relative)) order.push(relative);
    }
  }
  return order;
}

/** /bin/busybox from busybox-static: the initramfs has no libc, so a dynamically linked busybox would not start. */
async function staticBusybox(): Promise<string> {
  const busybox = '/bin/busybox';
  const install = 'apt-get install --no-install-recommends busybox-static';
  if (!(await exists(busybox))) throw new LanePrerequisiteError('busybox-static', install, `${busybox} is missing`);
  const ldd = await execa('ldd', [busybox], { reject: false });
  if (ldd.exitCode === 0 && !/not a dynamic executable|statically linked/.test(ldd.stdout + ldd.stderr)) {
    throw new LanePrerequisiteError('busybox-static', install, `${busybox} is dynamically linked (the busybox package, not busybox-static)`);
  }
  return busybox;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    out.push(full);
    if (entry.isDirectory()) out.push(...(await walk(full)));
  }
  return out;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
