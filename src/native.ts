// Typed surface of the N-API shim (native/shim.cc) and its loader.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One process_madvise() iovec: start address and length in bytes. */
export interface Iovec {
  addr: bigint;
  len: bigint;
}

/** Error thrown by every shim call that fails: errno is positive, as in C. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface NativeConstants {
  SYS_pidfd_open: number;
  SYS_pidfd_send_signal: number;
  SYS_process_madvise: number;
  SYS_process_mrelease: number;
  MADV_NORMAL: number;
  MADV_RANDOM: number;
  MADV_SEQUENTIAL: number;
  MADV_WILLNEED: number;
  MADV_DONTNEED: number;
  MADV_FREE: number;
  MADV_REMOVE: number;
  MADV_DONTFORK: number;
  MADV_DOFORK: number;
  MADV_MERGEABLE: number;
  MADV_UNMERGEABLE: number;
  MADV_HUGEPAGE: number;
  MADV_NOHUGEPAGE: number;
  MADV_DONTDUMP: number;
  MADV_DODUMP: number;
  MADV_WIPEONFORK: number;
  MADV_KEEPONFORK: number;
  MADV_COLD: number;
  MADV_PAGEOUT: number;
  MADV_POPULATE_READ: number;
  MADV_POPULATE_WRITE: number;
  MADV_COLLAPSE: number;
  /** reclaim-harness port (spec A2): advise the whole address space. */
  PMADV_FLAG_RANGE: number;
  POLLIN: number;
  SCHED_OTHER: number;
  SCHED_FIFO: number;
  SCHED_RESET_ON_FORK: number;
}

/** The shim: each function is one syscall, 1:1 with the kernel ABI. */
export interface Native {
  pidfdOpen(pid: number, flags?: number): number;
  pidfdSendSignal(pidfd: number, sig: number, flags?: number): void;
  close(fd: number): void;
  /** poll(2) on one fd: its revents, 0 when timeoutMs passed first. */
  poll(fd: number, events: number, timeoutMs: number): number;
  /**
   * Returns the kernel's return value: bytes advised, or 0 with PMADV_FLAG_RANGE.
   * vec: iovecs, null (NULL), or a bigint passed as the iovec pointer itself;
   * vlen defaults to the number of iovecs (0 for null or a pointer).
   */
  processMadvise(pidfd: number, vec: readonly Iovec[] | null | bigint, advice: number, flags: number, vlen?: bigint): bigint;
  processMrelease(pidfd: number, flags?: number): void;
  /** pid 0 is the calling thread. */
  schedSetaffinity(pid: number, cpus: readonly number[]): void;
  schedGetaffinity(pid: number): number[];
  /** pid 0 is the calling thread; policy may include SCHED_RESET_ON_FORK. */
  schedSetscheduler(pid: number, policy: number, priority: number): void;
  readonly pageSize: number;
  /** Architecture the addon was compiled for: 'arm64' or 'x64'. */
  readonly arch: string;
  readonly constants: Readonly<NativeConstants>;
}

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultShimPath = join(packageRoot, 'build', 'Release', 'reclaim_shim.node');
export const defaultSubjectPath = join(packageRoot, 'build', 'Release', 'subject');

const ELF_MACHINES: Record<number, string> = { 62: 'x64', 183: 'arm64', 40: 'arm', 3: 'ia32' };

/** The Node arch name an ELF file was built for, or undefined if it is not ELF. */
export function elfArch(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(20);
    if (readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = h.readUInt16LE(18);
    return ELF_MACHINES[machine] ?? `elf-machine-${machine}`;
  } finally {
    closeSync(fd);
  }
}

let cached: Native | undefined;

/** Loads the shim, explaining a missing build or a build for another architecture. */
export function loadNative(path = process.env.RECLAIM_SHIM ?? defaultShimPath): Native {
  if (cached && path === defaultShimPath) return cached;
  if (!existsSync(path)) {
    throw new Error(`reclaim-harness: native shim not found at ${path}; build it with 'npx node-gyp rebuild' (npm install does this)`);
  }
  const built = elfArch(path);
  if (built !== process.arch) {
    throw new Error(`reclaim-harness: native shim ${path} was built for ${built ?? 'a non-ELF target'}, but this Node.js runs on ${process.arch}; rebuild it for ${process.arch}`);
  }
  const shim = createRequire(import.meta.url)(path) as Native;
  if (path === defaultShimPath) cached = shim;
  return shim;
}

export function isSyscallError(e: unknown): e is SyscallError {
  return e instanceof Error && typeof (e as SyscallError).code === 'string' && typeof (e as SyscallError).errno === 'number';
}
