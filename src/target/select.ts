// Where the suite runs, chosen in one place: QEMU boots the kernel and image built here; local
// and ssh run the kernel that is there. Each is an AgentChannel; nothing outside target/ starts QEMU.
import type { Accel, Arch } from '../builds/arch.js';
import type { AgentChannel } from './channel.js';
import { Guest } from './guest.js';
import { LocalTarget } from './local.js';
import { SshTarget, sshName, type SshOptions } from './ssh.js';

export type TargetKind = 'qemu' | 'local' | 'ssh';

export interface TargetChoice {
  target?: TargetKind;
  ssh?: Pick<SshOptions, 'address' | 'identity' | 'hostKey' | 'keep' | 'scratch'>;
}

export interface StartOptions extends TargetChoice {
  outDir: string;
  swap: number | 'none';
  timeoutMs?: number;
  /** qemu: the machine, and what it boots */
  arch?: Arch;
  accel?: Accel;
  memMiB?: number;
  smp?: number;
  kernel?: string;
  initrd?: string;
}

/** The kernel a target already runs, named for the report; undefined for QEMU, which boots ours. */
export function runningKernel(o: TargetChoice): string | undefined {
  if (o.target === 'local') return 'this machine (--target local)';
  if (o.target === 'ssh' && o.ssh) return `the board ${sshName(o.ssh.address)} (--target ssh)`;
  return undefined;
}

/** The architecture the target's programs (a reproducer) are built for. */
export const targetArch = (o: TargetChoice & { arch?: Arch }): Arch | undefined => (o.target === 'local' ? (process.arch === 'arm64' ? 'arm64' : 'x86_64') : o.target === 'ssh' ? 'arm64' : o.arch);

/** Starts the chosen target and its agent. */
export async function startTarget(o: StartOptions): Promise<AgentChannel> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  if (o.target === 'local') return LocalTarget.start({ outDir: o.outDir, swap: o.swap, timeoutMs });
  if (o.target === 'ssh') {
    if (!o.ssh) throw new Error('--target ssh needs the board (ssh://USER@HOST[:PORT])');
    return SshTarget.start({ ...o.ssh, outDir: o.outDir, swap: o.swap, timeoutMs });
  }
  if (!o.kernel || !o.initrd) throw new Error('the qemu target needs a kernel and an initramfs');
  return Guest.start({ arch: o.arch, accel: o.accel, kernel: o.kernel, initrd: o.initrd, outDir: o.outDir, memMiB: o.memMiB, smp: o.smp, swap: o.swap, timeoutMs });
}
