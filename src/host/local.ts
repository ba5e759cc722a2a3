// --target local: the suite against this machine's running kernel. The agent runs as a child
// over a pipe, with the host-built shim and subject; a loop-mounted ext4 file is its scratch and
// a zram device its swap. Every knob the suite writes is put back at the end, and on a signal.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import { bundleAgent } from './bundle.js';
import { AgentChannel, GuestError, type TargetEnd } from './channel.js';
import { makeScratchDisk } from './guest.js';
import { progress } from './log.js';

export interface LocalOptions {
  outDir: string;
  /** zram swap in MiB, or none */
  swap: number | 'none';
  timeoutMs: number;
}

/** Knobs the agent writes on its own (ksm_merge), kept like the ones written through 'write'. */
const KSM_KNOBS = ['run', 'pages_to_scan', 'sleep_millisecs'].map((k) => `/sys/kernel/mm/ksm/${k}`);

/** A knob's value as it must be written back: sysfs choice lists keep their [chosen] word. */
export function knobValue(text: string): string {
  return /\[([^\]]+)\]/.exec(text)?.[1] ?? text.trim();
}

/** A system-wide knob (not a process's file, not an interface under test): put back after the run. */
export const isKnob = (path: string) => /^\/(proc\/sys|sys\/kernel\/mm|sys\/module)\//.test(path);

/** Why this machine cannot host the suite, or undefined. */
export function localProblem(): string | undefined {
  if (process.platform !== 'linux') return 'it runs on Linux only';
  if (process.getuid?.() !== 0) return 'it must run as root: it reads PFNs in pagemap, changes sysctls and sets up swap';
  const other = readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]!);
  if (other.length) return `this machine already swaps to ${other.join(', ')}: the model's swap states assume the harness's zram device alone (swapoff them first)`;
  return undefined;
}

export class LocalTarget extends AgentChannel {
  /** path -> value before the run, for every knob written */
  private readonly saved = new Map<string, string>();
  private done = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly stage: string,
    private readonly scratch: string,
    private readonly zram: { dev: string; added: boolean } | undefined,
    agentLog: string,
    timeoutMs: number,
  ) {
    super((line) => child.stdin!.write(line), agentLog, timeoutMs);
    for (const k of KSM_KNOBS) this.remember(k);
  }

  static async start(o: LocalOptions): Promise<LocalTarget> {
    const t0 = Date.now();
    const problem = localProblem();
    if (problem) throw new GuestError('boot', 'ETARGET', 0, `--target local: ${problem}`);
    // Workers run as uid 65534 and 1000: everything they load must be readable by them.
    const stage = mkdtempSync(join(tmpdir(), 'reclaim-local-'));
    chmodSync(stage, 0o755);
    let zram: { dev: string; added: boolean } | undefined;
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
      if (o.swap !== 'none' && !noSwap) zram = setUpZram(o.swap);
      progress('local', `agent on ${process.execPath}; scratch ${scratch}; swap ${zram ? `${o.swap} MiB on /dev/${zram.dev}` : 'none'}`);
      const child = spawn(process.execPath, [join(stage, 'agent.cjs'), '--stdio'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // its own process group: the subjects and workers it starts go with it
        detached: true,
        env: { ...process.env, RECLAIM_SHIM: join(stage, 'reclaim_shim.node'), RECLAIM_SUBJECT: join(stage, 'subject'), RECLAIM_SCRATCH: scratch, ...(zram ? { RECLAIM_SWAP_DEV: `/dev/${zram.dev}` } : {}), ...(noSwap ? { RECLAIM_NO_SWAP: noSwap } : {}) },
      });
      const target = (t = new LocalTarget(child, stage, scratch, zram, join(o.outDir, 'agent.log'), o.timeoutMs));
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-4000);
        writeFileSync(join(o.outDir, 'agent.stderr'), d, { flag: 'a' });
      });
      child.stdout!.setEncoding('utf8').on('data', (d: string) => target.feed(d));
      child.on('exit', (code, sig) => target.fail(new GuestError('agent', 'EAGENTEXIT', 0, `the agent exited (${sig ?? code})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`)));
      const boot = setTimeout(() => target.fail(new GuestError('boot', 'ETIMEDOUT', 0, `no agent after ${o.timeoutMs} ms`)), o.timeoutMs);
      try {
        target.features = (await target.ready).features as Record<string, unknown>;
      } finally {
        clearTimeout(boot);
      }
      target.bootMs = Date.now() - t0;
      return target;
    } catch (e) {
      if (t) t.kill();
      else teardown(stage, scratch, zram);
      throw e;
    }
  }

  private remember(path: string): void {
    if (this.saved.has(path)) return;
    try {
      this.saved.set(path, knobValue(readFileSync(path, 'utf8')));
    } catch {
      // write-only triggers (compact_memory, stat_refresh) and absent knobs: nothing to put back
    }
  }

  override request<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<T> {
    const writes = op === 'write' ? [args] : op === 'batch' ? ((args.reqs as Array<Record<string, unknown>>) ?? []).filter((r) => r.op === 'write') : [];
    for (const w of writes) if (typeof w.path === 'string' && isKnob(w.path)) this.remember(w.path);
    return super.request<T>(op, args, timeoutMs);
  }

  /** Puts every knob back; the values that would not go back are named. */
  private restore(): string[] {
    const failed: string[] = [];
    for (const [path, value] of this.saved) {
      try {
        if (knobValue(readFileSync(path, 'utf8')) !== value) writeFileSync(path, value);
      } catch (e) {
        failed.push(`${path}=${value} (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    return failed;
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
    const failed = this.restore();
    teardown(this.stage, this.scratch, this.zram);
    if (failed.length) process.stderr.write(`reclaim-harness: could not put back ${failed.join(', ')}\n`);
  }
}

/** Why this kernel gives the harness no zram device to swap to, or undefined. */
function zramProblem(): string | undefined {
  if (existsSync('/sys/class/zram-control/hot_add')) return undefined;
  const free = existsSync('/sys/block') && readdirSync('/sys/block').some((d) => /^zram\d+$/.test(d) && readFileSync(`/sys/block/${d}/disksize`, 'utf8').trim() === '0');
  return free ? undefined : 'this kernel has no free zram device to swap to (CONFIG_ZRAM; zram-control/hot_add)';
}

/** A zram device of its own, swapped to ahead of everything: a fresh one when zram-control can add one. */
function setUpZram(mib: number): { dev: string; added: boolean } {
  const control = '/sys/class/zram-control/hot_add';
  let dev: string | undefined;
  let added = false;
  if (existsSync(control)) {
    dev = `zram${readFileSync(control, 'utf8').trim()}`;
    added = true;
  } else {
    dev = readdirSync('/sys/block').find((d) => /^zram\d+$/.test(d) && readFileSync(`/sys/block/${d}/disksize`, 'utf8').trim() === '0');
  }
  if (!dev) throw new GuestError('boot', 'ENODEV', 0, '--target local: no zram device (CONFIG_ZRAM) for swap; run with --swap none');
  try {
    writeFileSync(`/sys/block/${dev}/disksize`, `${mib}M`);
    execFileSync('mkswap', [`/dev/${dev}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('swapon', ['-p', '32767', `/dev/${dev}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    releaseZram({ dev, added });
    throw new GuestError('boot', 'ENODEV', 0, `--target local: swap on /dev/${dev}: ${(e as Error).message.split('\n')[0]}`);
  }
  return { dev, added };
}

function releaseZram(z: { dev: string; added: boolean }): void {
  const quiet = { stdio: ['ignore', 'ignore', 'ignore'] as ['ignore', 'ignore', 'ignore'] };
  try {
    execFileSync('swapoff', [`/dev/${z.dev}`], quiet);
  } catch {
    /* not on */
  }
  try {
    writeFileSync(`/sys/block/${z.dev}/reset`, '1');
    if (z.added) writeFileSync('/sys/class/zram-control/hot_remove', z.dev.replace('zram', ''));
  } catch {
    /* already gone */
  }
}

function teardown(stage: string, scratch: string, zram: { dev: string; added: boolean } | undefined): void {
  if (zram) releaseZram(zram);
  try {
    // lazily: a killed subject may still hold a file there for a moment
    execFileSync('umount', ['-l', scratch], { stdio: ['ignore', 'ignore', 'ignore'] });
  } catch {
    /* not mounted */
  }
  rmSync(stage, { recursive: true, force: true });
}
