// Debian packages the project needs on the host, checked and installed.
import { execa } from 'execa';
import { progress } from './log.js';

export interface Requirement {
  pkg: string;
  why: string;
}

export const requirements: readonly Requirement[] = [
  { pkg: 'python3', why: 'node-gyp runs gyp' },
  { pkg: 'make', why: 'node-gyp builds with make' },
  { pkg: 'g++', why: 'build the shim for the host' },
  { pkg: 'gcc-aarch64-linux-gnu', why: 'cross-build subject for arm64' },
  { pkg: 'g++-aarch64-linux-gnu', why: 'cross-build the shim for arm64' },
  { pkg: 'libc6-dev-arm64-cross', why: 'static arm64 libc for subject' },
  { pkg: 'file', why: 'identify built binaries' },
  { pkg: 'qemu-user-static', why: 'run the arm64 subject on the host in tests' },
  { pkg: 'linux-source-6.12', why: "the default kernel: Debian's 6.12 LTS source" },
  { pkg: 'bc', why: 'kernel build' },
  { pkg: 'bison', why: 'kernel build (kconfig)' },
  { pkg: 'flex', why: 'kernel build (kconfig)' },
  { pkg: 'libssl-dev', why: 'kernel build (host tools)' },
  { pkg: 'libelf-dev', why: 'kernel build (host tools)' },
  { pkg: 'xz-utils', why: 'unpack the kernel source' },
  { pkg: 'rsync', why: 'private copy of a kernel tree' },
  { pkg: 'git', why: 'apply the patch series' },
  { pkg: 'qemu-system-arm', why: 'boot the arm64 guest (qemu-system-aarch64)' },
  { pkg: 'cpio', why: 'inspect initramfs images in tests' },
  { pkg: 'mmdebstrap', why: "the guest's arm64 Node.js, from Debian" },
  { pkg: 'e2fsprogs', why: 'mkfs.ext4 for the guest scratch disk' },
  { pkg: 'libxml2-utils', why: 'xmllint checks the JUnit report against its schema in tests' },
];

export interface DoctorReport {
  present: string[];
  missing: Requirement[];
  installed: string[];
}

/** The subset of pkgs that dpkg reports installed. */
export async function installedPackages(pkgs: readonly string[]): Promise<Set<string>> {
  const r = await execa('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...pkgs], { reject: false });
  const ok = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const [name, ...status] = line.trim().split(' ');
    if (name && status.join(' ') === 'install ok installed') ok.add(name.replace(/:.*$/, ''));
  }
  return ok;
}

/** Checks every requirement; with fix, installs the missing ones through apt-get. */
export async function doctor(fix: boolean): Promise<DoctorReport> {
  const report: DoctorReport = { present: [], missing: [], installed: [] };
  const installed = await installedPackages(requirements.map((r) => r.pkg));
  for (const r of requirements) {
    if (installed.has(r.pkg)) report.present.push(r.pkg);
    else report.missing.push(r);
  }
  if (!report.missing.length || !fix) return report;
  report.installed = await aptInstall(report.missing.map((r) => r.pkg));
  report.missing = [];
  return report;
}

/** apt-get install, as root; says what to run otherwise. */
export async function aptInstall(names: string[]): Promise<string[]> {
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${names.join(' ')}; run as root: apt-get install -y ${names.join(' ')}`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  progress('doctor', 'apt-get update');
  await execa('apt-get', ['update', '-q'], { env, stdout: 'ignore', stderr: 'inherit' });
  progress('doctor', `apt-get install ${names.join(' ')}`);
  await execa('apt-get', ['install', '-y', '-q', ...names], { env, stdout: 'ignore', stderr: 'inherit' });
  return names;
}
