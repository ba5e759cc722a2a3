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
];

export interface DoctorReport {
  present: string[];
  missing: Requirement[];
  installed: string[];
}

async function isInstalled(pkg: string): Promise<boolean> {
  const r = await execa('dpkg-query', ['-W', '-f=${Status}', pkg], { reject: false });
  return r.exitCode === 0 && r.stdout.trim() === 'install ok installed';
}

/** Checks every requirement; with fix, installs the missing ones through apt-get. */
export async function doctor(fix: boolean): Promise<DoctorReport> {
  const report: DoctorReport = { present: [], missing: [], installed: [] };
  for (const r of requirements) {
    if (await isInstalled(r.pkg)) report.present.push(r.pkg);
    else report.missing.push(r);
  }
  if (!report.missing.length || !fix) return report;
  const names = report.missing.map((r) => r.pkg);
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${names.join(' ')}; run as root: apt-get install -y ${names.join(' ')}`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  progress('doctor', 'apt-get update');
  await execa('apt-get', ['update', '-q'], { env, stdout: 'ignore', stderr: 'inherit' });
  progress('doctor', `apt-get install ${names.join(' ')}`);
  await execa('apt-get', ['install', '-y', '-q', ...names], { env, stdout: 'ignore', stderr: 'inherit' });
  report.installed = names;
  report.missing = [];
  return report;
}
