// The host tools the project needs, each found by what it provides (a command
// on PATH or a file), and installed with apt-get when a command needs it.
import { accessSync, constants, existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { cacheDir } from './cache.js';
import { progress } from '../log.js';

/** What a command is about to do, each needing some of the tools. */
export const NEEDS = ['native', 'kernel', 'debian-source', 'cross', 'image', 'boot', 'x86_64', 'modules', 'ssh', 'lava', 'tests'] as const;
export type Need = (typeof NEEDS)[number];

export interface Requirement {
  pkg: string;
  why: string;
  /** a command found on PATH, or an absolute file */
  provides: string;
  needs: readonly Need[];
}

export const requirements: readonly Requirement[] = [
  { pkg: 'python3', provides: 'python3', needs: ['native', 'cross'], why: 'node-gyp runs gyp' },
  { pkg: 'make', provides: 'make', needs: ['native', 'cross', 'kernel'], why: 'node-gyp and the kernel build run make' },
  { pkg: 'g++', provides: 'g++', needs: ['native'], why: 'build the shim for the host' },
  { pkg: 'gcc', provides: 'gcc', needs: ['kernel'], why: "the kernel's host programs (kconfig, scripts/)" },
  { pkg: 'gcc-aarch64-linux-gnu', provides: 'aarch64-linux-gnu-gcc', needs: ['kernel', 'cross'], why: 'cross-compile the arm64 kernel and subject' },
  { pkg: 'g++-aarch64-linux-gnu', provides: 'aarch64-linux-gnu-g++', needs: ['cross'], why: 'cross-build the shim for arm64' },
  { pkg: 'libc6-dev-arm64-cross', provides: '/usr/aarch64-linux-gnu/lib/libc.a', needs: ['cross'], why: 'static arm64 libc for subject' },
  { pkg: 'linux-source-6.12', provides: '/usr/src/linux-source-6.12.tar.xz', needs: ['debian-source'], why: "the default kernel: Debian's 6.12 LTS source" },
  { pkg: 'xz-utils', provides: 'xz', needs: ['debian-source', 'modules'], why: 'unpack the kernel source and .ko.xz modules' },
  { pkg: 'zstd', provides: 'zstd', needs: ['modules'], why: 'unpack .ko.zst modules (run --modules)' },
  { pkg: 'bc', provides: 'bc', needs: ['kernel'], why: 'kernel build' },
  { pkg: 'bison', provides: 'bison', needs: ['kernel'], why: 'kernel build (kconfig)' },
  { pkg: 'flex', provides: 'flex', needs: ['kernel'], why: 'kernel build (kconfig)' },
  { pkg: 'libssl-dev', provides: '/usr/include/openssl/ssl.h', needs: ['kernel'], why: 'kernel build (host tools)' },
  { pkg: 'libelf-dev', provides: '/usr/include/libelf.h', needs: ['kernel'], why: 'kernel build (host tools)' },
  { pkg: 'rsync', provides: 'rsync', needs: ['kernel'], why: 'private copy of a kernel tree' },
  { pkg: 'git', provides: 'git', needs: ['kernel'], why: 'apply the patch series' },
  { pkg: 'mmdebstrap', provides: 'mmdebstrap', needs: ['image'], why: "the guest's arm64 Node.js, from Debian" },
  { pkg: 'qemu-system-arm', provides: 'qemu-system-aarch64', needs: ['boot'], why: 'boot the arm64 guest' },
  { pkg: 'qemu-system-x86', provides: 'qemu-system-x86_64', needs: ['x86_64', 'tests'], why: 'boot the x86_64 guest (--arch x86_64), under KVM where a KVM guest boots' },
  { pkg: 'e2fsprogs', provides: 'mkfs.ext4', needs: ['boot'], why: "the guest's ext4 scratch disk" },
  { pkg: 'openssh-client', provides: 'ssh', needs: ['ssh', 'tests'], why: 'run --target ssh:// (and ssh-keygen for the emulated board in tests)' },
  { pkg: 'lava-dispatcher', provides: 'lava-run', needs: ['lava'], why: 'lava --run: the job on this machine, standalone' },
  { pkg: 'file', provides: 'file', needs: ['tests'], why: 'identify built binaries in tests' },
  { pkg: 'qemu-user-static', provides: 'qemu-aarch64-static', needs: ['image', 'tests'], why: "build the guest's Node start-up snapshot (qemu-aarch64-static, qemu-x86_64-static); run the arm64 subject on the host in tests" },
  { pkg: 'cpio', provides: 'cpio', needs: ['tests'], why: 'inspect initramfs images in tests' },
  { pkg: 'libxml2-utils', provides: 'xmllint', needs: ['tests'], why: 'check the JUnit report against its schema in tests' },
];

/** The architecture the guest image's Debian packages are for. */
const GUEST_ARCH = 'arm64';

/** The full path of a command on PATH, or undefined. */
export function onPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export const present = (r: Requirement): boolean => (r.provides.startsWith('/') ? existsSync(r.provides) : onPath(r.provides) !== undefined);

export function missingFor(needs: readonly Need[]): Requirement[] {
  return requirements.filter((r) => r.needs.some((n) => needs.includes(n)) && !present(r));
}

async function foreignArchMissing(needs: readonly Need[]): Promise<boolean> {
  if (!needs.includes('image')) return false;
  const r = await execa('dpkg', ['--print-foreign-architectures'], { reject: false });
  return r.exitCode === 0 && !r.stdout.split('\n').includes(GUEST_ARCH);
}

/**
 * Makes sure the tools for needs are there before any work starts: installs
 * the missing ones with apt-get as root (one line says what and why), or
 * names them and how to get them.
 */
export async function ensureTools(needs: readonly Need[]): Promise<string[]> {
  const missing = missingFor(needs);
  const addArch = await foreignArchMissing(needs);
  if (!missing.length && !addArch) return [];
  const pkgs = missing.map((r) => r.pkg);
  const arch = addArch ? [`dpkg architecture ${GUEST_ARCH} (the guest's Node.js and busybox)`] : [];
  const what = [...arch, ...missing.map((r) => `${r.provides} (${r.pkg}: ${r.why})`)].join(', ');
  if (!onPath('apt-get')) throw new Error(`missing ${what}; this host has no apt-get: install them with its package manager`);
  if (process.getuid?.() !== 0) {
    const steps = [...(addArch ? [`dpkg --add-architecture ${GUEST_ARCH}`, 'apt-get update'] : []), ...(pkgs.length ? [`apt-get install -y ${pkgs.join(' ')}`] : [])];
    throw new Error(`missing ${what}; as root run: ${steps.join(' && ')}`);
  }
  progress('setup', `installing ${[...arch, ...missing.map((r) => `${r.pkg} (${r.why})`)].join(', ')} with apt-get`);
  const t0 = Date.now();
  if (addArch) await execa('dpkg', ['--add-architecture', GUEST_ARCH]);
  await aptGet(['update'], 'apt-get update');
  if (pkgs.length) await aptGet(['install', '-y', ...pkgs], `apt-get install ${pkgs.join(' ')}`);
  const still = missing.filter((r) => !present(r));
  if (still.length) {
    throw new Error(`apt-get installed ${still.map((r) => r.pkg).join(' ')}, but ${still.map((r) => r.provides).join(', ')} still not found${still.some((r) => !r.provides.startsWith('/')) ? ` on PATH (${process.env.PATH ?? ''})` : ''}`);
  }
  progress('setup', `installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return pkgs;
}

/** apt-get, its output kept in a log; a failure quotes the end of it. */
async function aptGet(args: string[], what: string): Promise<void> {
  const log = join(cacheDir('logs'), 'apt-get.log');
  const r = await execa('apt-get', ['-q', ...args], { env: { DEBIAN_FRONTEND: 'noninteractive' }, all: true, reject: false, stdin: 'ignore' });
  writeFileSync(log, r.all ?? '', { flag: 'a' });
  if (r.exitCode !== 0) {
    const tail = (r.all ?? '').trim().split('\n').slice(-6).join('\n');
    throw new Error(`${what} failed (exit ${r.exitCode ?? r.signal}):\n${tail}\nfull log: ${log}`);
  }
}

export interface DoctorReport {
  present: string[];
  missing: Requirement[];
  installed: string[];
}

/** Checks every requirement; with fix, installs the missing ones. */
export async function doctor(fix: boolean): Promise<DoctorReport> {
  const installed = fix ? await ensureTools(NEEDS) : [];
  const missing = missingFor(NEEDS);
  return { present: requirements.filter((r) => !missing.includes(r)).map((r) => r.pkg), missing, installed };
}
