// Boots the guest kernel in QEMU (arm64 under TCG; x86_64 under KVM where it
// can), with the console in a log file that is watched for kernel crashes.
import { createWriteStream, existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Crash } from '../protocol/channel.js';
import { DEFAULT_ARCH, ARCH, kvmProblem, machineArgs, type Accel, type AccelChoice, type Arch } from '../builds/arch.js';
import { cacheDir, hashOf } from '../builds/cache.js';
import { onPath } from '../builds/doctor.js';

export interface BootOptions {
  kernel: string;
  initrd: string;
  /** extra kernel command line */
  append?: string;
  memMiB?: number;
  smp?: number;
  /** console output goes here, in full */
  consoleLog: string;
  timeoutMs: number;
  /** default arm64 */
  arch?: Arch;
  /** default: KVM for an x86_64 guest where /dev/kvm works, TCG otherwise */
  accel?: Accel;
  /** QEMU -cpu model */
  cpu?: string;
  /** unix socket QEMU serves the agent's virtio-serial port on */
  agentSocket?: string;
  /** raw disk image attached as virtio-blk (/dev/vda in the guest) */
  scratchDisk?: string;
  /** QEMU -name, so a run's QEMU can be told apart from others */
  name?: string;
  /** further QEMU arguments */
  extraArgs?: string[];
}

export type { Crash };

export interface BootResult {
  console: string;
  /** what QEMU itself printed on stderr (also in the console log, as 'qemu: ...' lines) */
  stderr: string;
  exitCode: number | undefined;
  timedOut: boolean;
  crash?: Crash;
  ms: number;
}

const CRASHES: Array<[string, RegExp]> = [
  ['panic', /Kernel panic - not syncing/],
  ['oops', /Internal error: Oops|Unable to handle kernel|\bOops: |general protection fault/],
  ['kasan', /BUG: KASAN/],
  ['soft lockup', /BUG: soft lockup|rcu_sched self-detected stall|rcu: INFO: rcu_sched detected stalls/],
  ['bug', /kernel BUG at|BUG: /],
  ['warning', /WARNING: CPU: \d+ PID: \d+/],
];

/** The first kernel crash report in console text, with the lines around it. */
export function findCrash(text: string): Crash | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    for (const [kind, re] of CRASHES) {
      if (re.test(lines[i]!)) return { kind, excerpt: lines.slice(Math.max(0, i - 2), i + 28).join('\n') };
    }
  }
  return undefined;
}

/** The accelerator a boot with these options uses: as asked, else TCG (chooseAccel decides KVM). */
export const accelOf = (o: Pick<BootOptions, 'arch' | 'accel'>): Accel => o.accel ?? 'tcg';

const KVM_PROBE_MS = 5000;

/**
 * KVM or TCG for this guest. /dev/kvm opening is not enough: a nested hypervisor can run a
 * BIOS and never the kernel (seen here). So the kernel is booted once under KVM with no
 * initrd: its banner within 5 s means KVM works. The answer is kept per host kernel, QEMU
 * and KVM modules.
 */
export async function chooseAccel(arch: Arch, kernel: string): Promise<AccelChoice> {
  const problem = kvmProblem(arch);
  if (problem) return { accel: 'tcg', why: arch === 'x86_64' ? problem : undefined };
  const qemu = onPath(ARCH[arch].qemuSystem) ?? ARCH[arch].qemuSystem;
  const modules = existsSync('/sys/module') ? readdirSync('/sys/module').filter((m) => m.startsWith('kvm')) : [];
  const memo = join(cacheDir('kvm-probe'), `${hashOf([release(), qemu, String(existsSync(qemu) ? statSync(qemu).mtimeMs : 0), modules.join(',')]).slice(0, 24)}.json`);
  if (existsSync(memo)) return JSON.parse(readFileSync(memo, 'utf8')) as AccelChoice;
  const args = [...machineArgs(arch, 'kvm'), '-m', '256', '-nographic', '-nic', 'none', '-no-reboot', '-kernel', kernel, '-append', `console=${ARCH[arch].console} earlyprintk=${ARCH[arch].console} panic=-1 reboot=t`];
  const t0 = Date.now();
  const child = execa(qemu, args, { stdin: 'ignore', reject: false, all: true, buffer: false, timeout: KVM_PROBE_MS, forceKillAfterDelay: 1000 });
  let out = '';
  const booted = await new Promise<boolean>((resolve) => {
    child.all!.setEncoding('utf8');
    child.all!.on('data', (d: string) => {
      out += d;
      if (/Linux version /.test(out)) resolve(true);
    });
    void child.then(() => resolve(false));
  });
  child.kill('SIGKILL');
  await child;
  const last = out.split('\n').map((l) => l.trim()).filter((l) => l && !/^\x1b/.test(l)).slice(-1)[0];
  const choice: AccelChoice = booted
    ? { accel: 'kvm' }
    : { accel: 'tcg', why: `/dev/kvm opens, but a KVM guest did not print the kernel's banner in ${((Date.now() - t0) / 1000).toFixed(1)} s${modules.length ? ` (modules: ${modules.join(', ')})` : ''}${last ? `; its last output: ${last.slice(0, 120)}` : ''}` };
  writeFileSync(`${memo}.tmp`, JSON.stringify(choice));
  renameSync(`${memo}.tmp`, memo);
  return choice;
}

export function qemuArgs(o: BootOptions): string[] {
  const arch = o.arch ?? DEFAULT_ARCH;
  const agent = o.agentSocket
    ? ['-device', 'virtio-serial-device', '-chardev', `socket,id=agent,path=${o.agentSocket},server=on,wait=off`, '-device', 'virtserialport,chardev=agent,name=reclaim.agent']
    : [];
  const disk = o.scratchDisk ? ['-drive', `file=${o.scratchDisk},if=none,format=raw,id=scratch`, '-device', 'virtio-blk-device,drive=scratch'] : [];
  // x86_64 has no ACPI here, so no poweroff: the init reboots, a triple fault (reboot=t) that -no-reboot ends.
  const archAppend = arch === 'x86_64' ? ' reboot=t' : '';
  return [
    ...machineArgs(arch, accelOf(o), o.cpu),
    '-smp', String(o.smp ?? 2),
    '-m', String(o.memMiB ?? 1024),
    '-nographic',
    '-nic', 'none',
    '-no-reboot',
    ...(o.name ? ['-name', o.name] : []),
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', `console=${ARCH[arch].console} panic=-1${archAppend} ${o.append ?? ''}`.trim(),
    ...agent,
    ...disk,
    ...(o.extraArgs ?? []),
  ];
}

export interface Vm {
  pid: number | undefined;
  /** resolves when QEMU has exited, however it ended */
  done: Promise<BootResult>;
  kill(): void;
  /** console text so far */
  console(): string;
  /** called once with the first crash seen on the console */
  onCrash(fn: (c: Crash) => void): void;
}

/**
 * Starts QEMU. A crash on the console or the timeout ends it, and so does this
 * process exiting: no QEMU outlives its runner.
 */
export function startQemu(o: BootOptions): Vm {
  const t0 = Date.now();
  const log = createWriteStream(o.consoleLog);
  const child = execa(ARCH[o.arch ?? DEFAULT_ARCH].qemuSystem, qemuArgs(o), { stdin: 'ignore', reject: false, buffer: false, forceKillAfterDelay: 2000 });
  let text = '';
  let stderr = '';
  let crash: Crash | undefined;
  let timedOut = false;
  const crashListeners: Array<(c: Crash) => void> = [];
  const kill = () => child.kill('SIGTERM');
  const timer = setTimeout(() => ((timedOut = true), kill()), o.timeoutMs);
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    text += d;
    log.write(d);
    // Complete lines only: an excerpt cut mid-line would lose the panic reason.
    if (!crash && (crash = findCrash(text.slice(0, text.lastIndexOf('\n') + 1)))) {
      for (const fn of crashListeners) fn(crash);
      setTimeout(kill, 1000); // let the trace finish printing
    }
  });
  child.stderr!.setEncoding('utf8');
  let lineStart = true;
  child.stderr!.on('data', (d: string) => {
    stderr += d;
    for (const piece of d.split(/(?<=\n)/)) {
      log.write(lineStart ? `qemu: ${piece}` : piece);
      lineStart = piece.endsWith('\n');
    }
  });
  const done = (async () => {
    try {
      const r = await child;
      return { console: text, stderr, exitCode: r.exitCode, timedOut, crash: findCrash(text), ms: Date.now() - t0 };
    } finally {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      await new Promise((r) => log.end(r));
    }
  })();
  return { pid: child.pid, done, kill, console: () => text, onCrash: (fn) => crashListeners.push(fn) };
}

const lastLines = (text: string, n: number) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-n);

/**
 * Why a guest ended (or never got going), from what it left: the kernel's
 * crash report, QEMU's own error, the guest /init's last word, or the
 * kernel's last console lines; then where the console log is.
 */
export function exitCause(r: Pick<BootResult, 'console' | 'stderr' | 'exitCode' | 'crash'>, consoleLog: string, arch: Arch = 'arm64'): string {
  const where = `console: ${consoleLog}`;
  if (r.crash) return `kernel ${r.crash.kind}:\n${r.crash.excerpt}\n${where}`;
  const qemu = lastLines(r.stderr, 6);
  if (r.exitCode !== 0 && qemu.length) return `${qemu.join('\n')}\n${where}`;
  const lines = lastLines(r.console, 400);
  let k = lines.length - 1;
  while (k >= 0 && !/^reclaim-init: /.test(lines[k]!)) k--;
  if (k >= 0) {
    // The agent's own last words (a Node.js error, say) come just before init's.
    const context = /agent exited/.test(lines[k]!) ? lines.slice(Math.max(0, k - 8), k) : [];
    return [...context, lines[k]!, where].join('\n');
  }
  if (!lines.length) return `the kernel printed nothing on the console (${ARCH[arch].console}): is it a kernel for ${arch === 'arm64' ? "QEMU's arm64 virt machine, with CONFIG_SERIAL_AMBA_PL011_CONSOLE" : "QEMU's x86_64 microvm, with CONFIG_SERIAL_8250_CONSOLE"}?\n${where}`;
  return `the kernel's last lines:\n${lines.slice(-12).join('\n')}\n${where}`;
}

/** Boots and waits for the guest to power off (or crash, or time out). */
export function boot(o: BootOptions): Promise<BootResult> {
  return startQemu(o).done;
}

/** QEMU with the console on this terminal, for `reclaim-harness shell`. */
export async function interactive(o: Omit<BootOptions, 'consoleLog' | 'timeoutMs'>): Promise<number> {
  const r = await execa(ARCH[o.arch ?? DEFAULT_ARCH].qemuSystem, qemuArgs({ ...o, consoleLog: '', timeoutMs: 0 }), { stdio: 'inherit', reject: false });
  return r.exitCode ?? 1;
}
