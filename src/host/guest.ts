// A running guest: QEMU plus the agent's JSON-line channel on virtio-serial.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { exitCause, startQemu, type BootResult, type Crash, type Vm } from './qemu.js';

export interface GuestOptions {
  kernel: string;
  initrd: string;
  outDir: string;
  memMiB?: number;
  smp?: number;
  /** zram swap size in MiB, or 'none' */
  swap?: number | 'none';
  cpu?: string;
  /** boot and per-request limit */
  timeoutMs?: number;
  /** whole-VM limit */
  vmTimeoutMs?: number;
  scratchMiB?: number;
}

/** The agent's answer to a failed operation, or a lost guest. */
export class GuestError extends Error {
  constructor(readonly op: string, readonly code: string, readonly errno: number, message: string, readonly crash?: Crash) {
    super(`${op}: ${code}${message ? `: ${message}` : ''}`);
  }
}

type Pending = { op: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class Guest {
  private seq = 0;
  private pending = new Map<number, Pending>();
  private lost: GuestError | undefined;
  private buf = '';
  features: Record<string, unknown> = {};
  bootMs = 0;

  private constructor(
    private readonly vm: Vm,
    private readonly sock: Socket,
    private readonly tmp: string,
    private readonly agentLog: string,
    private readonly consoleLog: string,
    private readonly timeoutMs: number,
  ) {}

  static async start(o: GuestOptions): Promise<Guest> {
    const t0 = Date.now();
    const timeoutMs = o.timeoutMs ?? 60_000;
    const tmp = mkdtempSync(join(tmpdir(), 'reclaim-guest-'));
    let vm: Vm | undefined;
    try {
      const disk = await makeScratchDisk(join(tmp, 'scratch.img'), o.scratchMiB ?? 128);
      const socket = join(tmp, 'agent.sock');
      const swap = o.swap ?? 'none';
      vm = startQemu({
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
      const sock = await connectWhenReady(socket, vm, timeoutMs, consoleLog);
      const g = new Guest(vm, sock, tmp, join(o.outDir, 'agent.log'), consoleLog, timeoutMs);
      const ready = await g.attach(t0);
      g.features = ready.features as Record<string, unknown>;
      g.bootMs = Date.now() - t0;
      return g;
    } catch (e) {
      vm?.kill();
      await vm?.done;
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Wires the channel; resolves with the agent's ready line. */
  private attach(t0: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let ready = false;
      const fail = (e: GuestError) => {
        this.lost ??= e;
        if (!ready) reject(this.lost);
        for (const p of this.pending.values()) (clearTimeout(p.timer), p.reject(this.lost));
        this.pending.clear();
      };
      const bootTimer = setTimeout(() => fail(new GuestError('boot', 'ETIMEDOUT', 0, `no agent after ${this.timeoutMs} ms; ${exitCause({ console: this.vm.console(), stderr: '', exitCode: 0 }, this.consoleLog)}`)), this.timeoutMs);
      this.vm.onCrash((c) => fail(new GuestError('guest', 'ECRASH', 0, `kernel ${c.kind}:\n${c.excerpt}`, c)));
      this.vm.done.then((r: BootResult) => fail(exitError('guest', r, `after ${Date.now() - t0} ms${ready ? '' : ', before the agent was ready'}`, this.consoleLog)));
      this.sock.setEncoding('utf8');
      this.sock.on('data', (d: string) => {
        this.buf += d;
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, nl);
          this.buf = this.buf.slice(nl + 1);
          this.log('<', line);
          let msg: Record<string, unknown>;
          try {
            msg = JSON.parse(line);
          } catch {
            continue; // not ours
          }
          if (msg.ready && !ready) {
            ready = true;
            clearTimeout(bootTimer);
            resolve(msg);
            continue;
          }
          const p = this.pending.get(msg.id as number);
          if (!p) continue;
          this.pending.delete(msg.id as number);
          clearTimeout(p.timer);
          if (msg.ok) p.resolve(msg.result);
          else {
            const e = msg.error as { code: string; errno: number; message: string };
            p.reject(new GuestError(p.op, e.code, e.errno, e.message));
          }
        }
      });
    });
  }

  private log(dir: string, line: string): void {
    appendFileSync(this.agentLog, `${new Date().toISOString()} ${dir} ${line}\n`);
  }

  /** One agent operation; rejects with GuestError on failure, timeout or a lost guest. */
  request<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<T> {
    if (this.lost) return Promise.reject(this.lost);
    const id = ++this.seq;
    const line = JSON.stringify({ id, op, ...args });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // The agent is stuck (e.g. in a syscall that never returns): nothing after this can run.
        const e = new GuestError(op, 'ETIMEDOUT', 0, `no reply in ${timeoutMs} ms`);
        this.lost ??= e;
        reject(e);
      }, timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      this.log('>', line);
      this.sock.write(line + '\n');
    });
  }

  /**
   * Several requests in one round trip, run in order by the agent. Each entry
   * is its result, or the GuestError it failed with.
   */
  async batch(reqs: Array<{ op: string } & Record<string, unknown>>): Promise<Array<unknown | GuestError>> {
    const { results } = await this.request<{ results: Array<{ ok: boolean; result?: unknown; error?: { code: string; errno: number; message: string } }> }>('batch', { reqs });
    return results.map((r, k) => (r.ok ? r.result : new GuestError(reqs[k]!.op, r.error!.code, r.error!.errno, r.error!.message)));
  }

  get alive(): boolean {
    return !this.lost;
  }

  get lostReason(): GuestError | undefined {
    return this.lost;
  }

  /** Powers the guest off (or kills QEMU) and removes the temporary files. */
  async stop(): Promise<BootResult> {
    if (!this.lost) await this.request('poweroff', {}, 5000).catch(() => undefined);
    const timer = setTimeout(() => this.vm.kill(), this.lost ? 0 : 10_000);
    const r = await this.vm.done;
    clearTimeout(timer);
    this.sock.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
    return r;
  }

  /** Immediate teardown for signal handlers. */
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
function exitError(op: string, r: BootResult, when: string, consoleLog: string): GuestError {
  if (r.crash) return new GuestError(op, 'ECRASH', 0, exitCause(r, consoleLog), r.crash);
  return new GuestError(op, 'EGUESTEXIT', 0, `QEMU exited (${r.exitCode}) ${when}: ${exitCause(r, consoleLog)}`);
}

async function connectWhenReady(path: string, vm: Vm, timeoutMs: number, consoleLog: string): Promise<Socket> {
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
      if (exited) throw exitError('boot', exited, 'before its agent socket opened', consoleLog);
      if (Date.now() > until) throw new GuestError('boot', 'ETIMEDOUT', 0, `agent socket ${path}: ${(e as Error).message}`);
      await sleep(20);
    }
  }
}
