// A running guest: QEMU plus the agent's channel on virtio-serial.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { AgentChannel, GuestError } from './channel.js';
import { chooseAccel, exitCause, startQemu, type BootResult, type Vm } from './qemu.js';
import type { ReadyLine } from '../protocol/ops.js';
import { DEFAULT_ARCH, type Accel, type Arch } from '../builds/arch.js';

export interface GuestOptions {
  kernel: string;
  initrd: string;
  outDir: string;
  memMiB?: number;
  smp?: number;
  /** zram swap size in MiB, or 'none' */
  swap?: number | 'none';
  /** default arm64 */
  arch?: Arch;
  /** default: chooseAccel's (KVM for an x86_64 guest where a KVM guest boots) */
  accel?: Accel;
  cpu?: string;
  /** boot and per-request limit */
  timeoutMs?: number;
  /** whole-VM limit */
  vmTimeoutMs?: number;
  scratchMiB?: number;
}

export { GuestError };

/** A guest booted here: QEMU, and the agent on its virtio-serial port. */
export class Guest extends AgentChannel {
  private constructor(
    private readonly vm: Vm,
    private readonly sock: Socket,
    private readonly tmp: string,
    agentLog: string,
    private readonly consoleLog: string,
    timeoutMs: number,
    readonly arch: Arch,
    readonly accel: Accel,
  ) {
    super((line) => sock.write(line), agentLog, timeoutMs);
  }

  static async start(o: GuestOptions): Promise<Guest> {
    const t0 = Date.now();
    const timeoutMs = o.timeoutMs ?? 60_000;
    const tmp = mkdtempSync(join(tmpdir(), 'reclaim-guest-'));
    let vm: Vm | undefined;
    try {
      const disk = await makeScratchDisk(join(tmp, 'scratch.img'), o.scratchMiB ?? 128);
      const socket = join(tmp, 'agent.sock');
      const swap = o.swap ?? 'none';
      const arch = o.arch ?? DEFAULT_ARCH;
      const accel = o.accel ?? (await chooseAccel(arch, o.kernel)).accel;
      vm = startQemu({
        arch,
        accel,
        kernel: o.kernel,
        initrd: o.initrd,
        append: `quiet reclaim.swap=${swap} reclaim.mode=agent`,
        memMiB: o.memMiB,
        smp: o.smp,
        cpu: o.cpu,
        consoleLog: join(o.outDir, 'console.log'),
        timeoutMs: o.vmTimeoutMs ?? 30 * 60_000,
        agentSocket: socket,
        scratchDisk: disk,
        name: `reclaim-harness:${o.outDir}`,
      });
      const consoleLog = join(o.outDir, 'console.log');
      const sock = await connectWhenReady(socket, vm, timeoutMs, consoleLog, arch);
      const g = new Guest(vm, sock, tmp, join(o.outDir, 'agent.log'), consoleLog, timeoutMs, arch, accel);
      g.features = (await g.attach(t0)).features;
      g.bootMs = Date.now() - t0;
      return g;
    } catch (e) {
      vm?.kill();
      await vm?.done;
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Wires the channel to the socket and QEMU's end; resolves with the agent's ready line. */
  private attach(t0: number): Promise<ReadyLine> {
    const bootTimer = setTimeout(() => this.fail(new GuestError('boot', 'ETIMEDOUT', 0, `no agent after ${this.timeoutMs} ms; ${exitCause({ console: this.vm.console(), stderr: '', exitCode: 0 }, this.consoleLog, this.arch)}`)), this.timeoutMs);
    this.vm.onCrash((c) => this.fail(new GuestError('guest', 'ECRASH', 0, `kernel ${c.kind}:\n${c.excerpt}`, c)));
    this.vm.done.then((r: BootResult) => this.fail(exitError('guest', r, `after ${Date.now() - t0} ms${this.agentReady ? '' : ', before the agent was ready'}`, this.consoleLog, this.arch)));
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => this.feed(d));
    return this.ready.finally(() => clearTimeout(bootTimer));
  }

  /** Powers the guest off (or kills QEMU) and removes the temporary files. */
  async stop(): Promise<BootResult> {
    if (this.alive) await this.request('poweroff', {}, 5000).catch(() => undefined);
    const timer = setTimeout(() => this.vm.kill(), this.alive ? 10_000 : 0);
    const r = await this.vm.done;
    clearTimeout(timer);
    this.sock.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
    return r;
  }

  kill(): void {
    this.vm.kill();
    this.sock.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** An empty ext4 image: the guest's /mnt/scratch, so page-cache pages are real. */
export async function makeScratchDisk(path: string, mib: number): Promise<string> {
  await execa('truncate', ['-s', `${mib}M`, path]);
  await execa('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', path]);
  return path;
}

/** QEMU's end as an error: a crash (its excerpt), or an exit with its cause (exitCause). */
function exitError(op: string, r: BootResult, when: string, consoleLog: string, arch: Arch): GuestError {
  if (r.crash) return new GuestError(op, 'ECRASH', 0, exitCause(r, consoleLog, arch), r.crash);
  return new GuestError(op, 'EGUESTEXIT', 0, `QEMU exited (${r.exitCode}) ${when}: ${exitCause(r, consoleLog, arch)}`);
}

async function connectWhenReady(path: string, vm: Vm, timeoutMs: number, consoleLog: string, arch: Arch): Promise<Socket> {
  const until = Date.now() + timeoutMs;
  let exited: BootResult | undefined;
  void vm.done.then((r) => (exited = r));
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch (e) {
      if (exited) throw exitError('boot', exited, 'before its agent socket opened', consoleLog, arch);
      if (Date.now() > until) throw new GuestError('boot', 'ETIMEDOUT', 0, `agent socket ${path}: ${(e as Error).message}`);
      await sleep(20);
    }
  }
}
