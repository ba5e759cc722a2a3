// The guest architectures: what the kernel build, the guest image and QEMU
// need to know about each. arm64 under TCG is the default; x86_64 runs under
// KVM where a KVM guest boots (a developer's fast loop), under TCG otherwise.
import { accessSync, constants } from 'node:fs';

export const arches = ['arm64', 'x86_64'] as const;
export type Arch = (typeof arches)[number];
/** The guest's architecture where none is given. */
export const DEFAULT_ARCH: Arch = 'arm64';

export interface ArchInfo {
  arch: Arch;
  /** make ARCH= and CROSS_COMPILE= ('' builds with the host's gcc) */
  makeArch: string;
  cross: string;
  /** the make target and where it lands in the build dir */
  target: string;
  built: string;
  /** qemu/kernel/ fragment applied after base.config */
  fragment: string;
  /** Debian's architecture and multiarch triplet for the guest's packages */
  deb: string;
  triplet: string;
  /** qemu-user runs the guest's Node on the host (its start-up snapshot) */
  qemuUser: string;
  qemuSystem: string;
  /** the kernel's console device */
  console: string;
  /** `uname -m` */
  machine: string;
}

export const ARCH: Record<Arch, ArchInfo> = {
  arm64: {
    arch: 'arm64', makeArch: 'arm64', cross: 'aarch64-linux-gnu-', target: 'Image', built: 'arch/arm64/boot/Image',
    fragment: 'arm64.config', deb: 'arm64', triplet: 'aarch64-linux-gnu', qemuUser: 'qemu-aarch64-static',
    qemuSystem: 'qemu-system-aarch64', console: 'ttyAMA0', machine: 'aarch64',
  },
  x86_64: {
    arch: 'x86_64', makeArch: 'x86_64', cross: '', target: 'bzImage', built: 'arch/x86/boot/bzImage',
    fragment: 'x86_64.config', deb: 'amd64', triplet: 'x86_64-linux-gnu', qemuUser: 'qemu-x86_64-static',
    qemuSystem: 'qemu-system-x86_64', console: 'ttyS0', machine: 'x86_64',
  },
};

/** The guest's CPU for QEMU and for the snapshot built under qemu-user (same features). */
export const ARM64_CPU = 'cortex-a57';

export type Accel = 'kvm' | 'tcg';

export interface AccelChoice {
  accel: Accel;
  /** why not KVM, when it is TCG for an x86_64 guest */
  why?: string;
}

/** KVM is worth a try: an x86_64 guest on an x86-64 host whose /dev/kvm opens. */
export function kvmProblem(arch: Arch): string | undefined {
  if (arch !== 'x86_64') return `an ${arch} guest runs under TCG`;
  if (process.arch !== 'x64') return `this host is ${process.arch}`;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return undefined;
  } catch (e) {
    return `/dev/kvm: ${(e as NodeJS.ErrnoException).code}`;
  }
}

/** QEMU's machine, CPU and accelerator arguments. */
export function machineArgs(arch: Arch, accel: Accel, cpu?: string): string[] {
  if (arch === 'arm64') return ['-M', 'virt', '-cpu', cpu ?? ARM64_CPU];
  // microvm: virtio-mmio like arm64's virt, no PCI, no firmware tables to walk (acpi=off: the
  // devices come on the command line, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
  return ['-M', 'microvm,acpi=off', '-accel', accel, '-cpu', cpu ?? (accel === 'kvm' ? 'host' : 'max')];
}
