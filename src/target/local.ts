// --target local: the suite against this machine's running kernel. The agent runs as a child
// over a pipe, with the host-built shim and subject; a loop-mounted ext4 file is its scratch and
// a zram device its swap. Every knob the suite writes is put back at the end, and on a signal.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import type { Args, Op, Result } from '../protocol/ops.js';
import { ENV } from '../protocol/env.js';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import { bundleAgent } from '../builds/guest/agent-bundle.js';
import { AgentChannel, GuestError, type TargetEnd } from './channel.js';
import { makeScratchDisk } from './guest.js';
import { progress } from '../log.js';
import { Knobs, releaseZram, setUpZram, stageProblem, zramProblem, type Zram } from '../agent/stage.js';

export interface LocalOptions {
  outDir: string;
  /** zram swap in MiB, or none */
  swap: number | 'none';
  timeoutMs: number;
}

export class LocalTarget extends AgentChannel {
  private readonly knobs = new Knobs();
  private done = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly stage: string,
    private readonly scratch: string,
    private readonly zram: Zram | undefined,
    agentLog: string,
    timeoutMs: number,
  ) {
    super((line) => child.stdin!.write(line), agentLog, timeoutMs);
  }

  static async start(o: LocalOptions): Promise<LocalTarget> {
    const t0 = Date.now();
    const problem = stageProblem();
    if (problem) throw new GuestError('boot', 'ETARGET', 0, `--target local: ${problem}`);
    // Workers run as uid 65534 and 1000: everything they load must be readable by them.
    const stage = mkdtempSync(join(tmpdir(), 'reclaim-local-'));
    chmodSync(stage, 0o755);
    let zram: Zram | undefined;
    let t: LocalTarget | undefined;
    const scratch = join(stage, 'scratch');
    try {
      const release = join(packageRoot, 'build', 'Release');
      for (const f of ['reclaim_shim.node', 'subject']) {
        if (!existsSync(join(release, f))) throw new GuestError('boot', 'ENOENT', 0, `--target local: ${join(release, f)} is missing (npm install builds it)`);
        copyFileSync(join(release, f), join(stage, f));
        chmodSync(join(stage, f), 0o755);
      }
      copyFileSync(await bundleAgent(), join(stage, 'agent.cjs'));
      chmodSync(join(stage, 'agent.cjs'), 0o644);
      mkdirSync(scratch, { mode: 0o755 });
      await makeScratchDisk(join(stage, 'scratch.img'), 128);
      execFileSync('mount', ['-o', 'loop', join(stage, 'scratch.img'), scratch], { stdio: ['ignore', 'ignore', 'pipe'] });
      const noSwap = o.swap === 'none' ? undefined : zramProblem();
      if (o.swap !== 'none' && !noSwap) {
        try {
          zram = setUpZram(o.swap);
        } catch (e) {
          throw new GuestError('boot', 'ENODEV', 0, `--target local: ${(e as Error).message}`);
        }
      }
      progress('local', `agent on ${process.execPath}; scratch ${scratch}; swap ${zram ? `${o.swap} MiB on /dev/${zram.dev}` : 'none'}`);
      const child = spawn(process.execPath, [join(stage, 'agent.cjs'), '--stdio'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // its own process group: the subjects and workers it starts go with it
        detached: true,
        env: { ...process.env, [ENV.shim]: join(stage, 'reclaim_shim.node'), [ENV.subject]: join(stage, 'subject'), [ENV.scratch]: scratch, ...(zram ? { [ENV.swapDev]: `/dev/${zram.dev}` } : {}), ...(noSwap ? { [ENV.noSwap]: noSwap } : {}) },
      });
      const target = (t = new LocalTarget(child, stage, scratch, zram, join(o.outDir, 'agent.log'), o.timeoutMs));
      target.attachChild(child, o.outDir, (code, sig, last) => new GuestError('agent', 'EAGENTEXIT', 0, `the agent exited (${sig ?? code})${last ? `: ${last}` : ''}`));
      await target.whenReady(t0, 'on this machine');
      return target;
    } catch (e) {
      if (t) t.kill();
      else teardown(stage, scratch, zram);
      throw e;
    }
  }

  override request<K extends Op>(op: K, args: Args<K>, timeoutMs = this.timeoutMs): Promise<Result<K>> {
    this.knobs.note(op, args);
    return super.request(op, args, timeoutMs);
  }

  async stop(): Promise<TargetEnd> {
    if (this.done) return {};
    this.child.stdin!.end(); // the agent exits at the end of its input
    const exited = new Promise((r) => (this.child.exitCode !== null ? r(undefined) : this.child.once('exit', r)));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.finish();
    return {};
  }

  kill(): void {
    if (this.done) return;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    try {
      process.kill(-this.child.pid!, 'SIGKILL'); // the agent, if still there, and every subject and worker
    } catch {
      /* all gone */
    }
    const failed = this.knobs.restore();
    teardown(this.stage, this.scratch, this.zram);
    if (failed.length) process.stderr.write(`reclaim-harness: could not put back ${failed.join(', ')}\n`);
  }
}

function teardown(stage: string, scratch: string, zram: Zram | undefined): void {
  if (zram) releaseZram(zram);
  try {
    // lazily: a killed subject may still hold a file there for a moment
    execFileSync('umount', ['-l', scratch], { stdio: ['ignore', 'ignore', 'ignore'] });
  } catch {
    /* not mounted */
  }
  rmSync(stage, { recursive: true, force: true });
}
