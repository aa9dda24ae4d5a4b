import { afterEach, describe, expect, it } from '@jest/globals';
import { checkHostPrograms, HOST_PROGRAMS, LanePrerequisiteError, prepareImage } from '../../scripts/kernel-lane/image.js';

/** The lane never skips: without qemu or the kernel package it fails, and the message says how to install it. */

const savedPackage = process.env.BLOCKPLANE_KERNEL_PACKAGE;

afterEach(() => {
  if (savedPackage === undefined) delete process.env.BLOCKPLANE_KERNEL_PACKAGE;
  else process.env.BLOCKPLANE_KERNEL_PACKAGE = savedPackage;
});

describe('missing prerequisites', () => {
  it('qemu missing: fails naming the package to install', async () => {
    const qemu = HOST_PROGRAMS.find((p) => p.file.endsWith('/qemu-system-x86_64'))!;
    await expect(checkHostPrograms([{ ...qemu, file: '/nonexistent/qemu-system-x86_64' }])).rejects.toThrow(
      new LanePrerequisiteError('qemu (qemu-system-x86_64)', 'apt-get install --no-install-recommends qemu-system-x86', '/nonexistent/qemu-system-x86_64 is missing'),
    );
  });

  it('a kernel package apt does not know: fails naming apt-get update', async () => {
    process.env.BLOCKPLANE_KERNEL_PACKAGE = 'linux-image-0.0.0-0-blockplane-missing-amd64';
    await expect(prepareImage()).rejects.toThrow(
      /^The real-kernel lane needs the kernel package linux-image-0\.0\.0-0-blockplane-missing-amd64 \(apt-cache policy .* shows no candidate version\)\. Install it with: apt-get update/,
    );
  });
});
