// The agent's channel, whatever carries it: JSON lines with request ids, one ready line first.
// A transport (QEMU's virtio-serial socket, a child's pipes) feeds it lines and says when it is lost.
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batchReplies, GuestError, type Channel, type Crash } from '../protocol/channel.js';
import { lineReader } from '../protocol/lines.js';
import type { AgentRequest, Args, Features, Op, ReadyLine, Result } from '../protocol/ops.js';

export { GuestError };

type Pending = { op: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** How a target ended: a kernel crash seen on its console, if it has one. */
export interface TargetEnd {
  crash?: Crash;
}

export abstract class AgentChannel implements Channel {
  private seq = 0;
  private pending = new Map<number, Pending>();
  private lost: GuestError | undefined;
  private readonly lines = lineReader();
  private isReady = false;
  private readyResolve!: (msg: ReadyLine) => void;
  private readyReject!: (e: GuestError) => void;
  /** the agent's ready line; rejects when the target is lost first */
  protected readonly ready = new Promise<ReadyLine>((resolve, reject) => {
    this.readyResolve = resolve;
    this.readyReject = reject;
  });
  /** what the agent reported in its ready line (set once it is ready) */
  features!: Features;
  bootMs = 0;

  protected constructor(
    private readonly send: (line: string) => void,
    private readonly agentLog: string,
    protected readonly timeoutMs: number,
  ) {
    this.ready.catch(() => undefined); // a loss before anyone waits is not unhandled
  }

  /** The transport is gone (or the target crashed): every request fails with e from now on. */
  protected fail(e: GuestError): void {
    this.lost ??= e;
    if (!this.isReady) this.readyReject(this.lost);
    for (const p of this.pending.values()) (clearTimeout(p.timer), p.reject(this.lost));
    this.pending.clear();
  }

  protected get agentReady(): boolean {
    return this.isReady;
  }

  /** Data from the transport: whole lines are replies (or the ready line); anything else is ignored. */
  protected feed(d: string): void {
    for (const line of this.lines(d)) {
      this.log('<', line);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // not ours
      }
      if (msg.ready && !this.isReady) {
        this.isReady = true;
        this.readyResolve(msg as unknown as ReadyLine);
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
  }

  private log(dir: string, line: string): void {
    appendFileSync(this.agentLog, `${new Date().toISOString()} ${dir} ${line}\n`);
  }

  /** One agent operation; rejects with GuestError on failure, timeout or a lost target. */
  request<K extends Op>(op: K, args: Args<K>, timeoutMs = this.timeoutMs): Promise<Result<K>> {
    if (this.lost) return Promise.reject(this.lost);
    const id = ++this.seq;
    const line = JSON.stringify({ id, op, ...args });
    return new Promise<Result<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // The agent is stuck (e.g. in a syscall that never returns): nothing after this can run.
        const e = new GuestError(op, 'ETIMEDOUT', 0, `no reply in ${timeoutMs} ms`);
        this.lost ??= e;
        reject(e);
      }, timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      this.log('>', line);
      this.send(line + '\n');
    });
  }

  /**
   * Several requests in one round trip, run in order by the agent. Each entry
   * is its result, or the GuestError it failed with.
   */
  async batch(reqs: readonly AgentRequest[]): Promise<Array<unknown | GuestError>> {
    return batchReplies(reqs, (await this.request('batch', { reqs: [...reqs] })).results);
  }

  get alive(): boolean {
    return !this.lost;
  }

  get lostReason(): GuestError | undefined {
    return this.lost;
  }

  /**
   * A child process (the agent, or ssh running it) as the transport: its stdout feeds the
   * channel, its stderr goes to outDir/agent.stderr, and its exit is the loss lost() names.
   */
  protected attachChild(child: ChildProcess, outDir: string, lost: (code: number | null, sig: string | null, stderrTail: string) => GuestError): void {
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
      writeFileSync(join(outDir, 'agent.stderr'), d, { flag: 'a' });
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.feed(d));
    // a write after the child is gone (EPIPE): its exit says what happened
    child.stdin!.on('error', () => undefined);
    child.on('exit', (code, sig) => this.fail(lost(code, sig, stderr.trim().split('\n').slice(-3).join(' / '))));
  }

  /** Waits at most timeoutMs for the ready line: the features, and bootMs since t0. */
  protected async whenReady(t0: number, where: string): Promise<void> {
    const boot = setTimeout(() => this.fail(new GuestError('boot', 'ETIMEDOUT', 0, `no agent ${where} after ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      this.features = (await this.ready).features;
    } finally {
      clearTimeout(boot);
    }
    this.bootMs = Date.now() - t0;
  }

  /** Ends the agent and the target, and removes what it put in place. */
  abstract stop(): Promise<TargetEnd>;

  /** Immediate teardown for signal handlers. */
  abstract kill(): void;
}
