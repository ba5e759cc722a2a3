// A machine the harness did not boot (this host, a board): a zram swap device of the run's own,
// a scratch directory on a disk file system, and every system knob the suite writes put back.
// --target local uses it on the host; the agent uses it on a board (ssh) and under runner.cjs.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statfsSync, statSync, writeFileSync } from 'node:fs';

/** A knob's value as it must be written back: sysfs choice lists keep their [chosen] word. */
export function knobValue(text: string): string {
  return /\[([^\]]+)\]/.exec(text)?.[1] ?? text.trim();
}

/** A system-wide knob (not a process's file, not an interface under test): put back after the run. */
export const isKnob = (path: string) => /^\/(proc\/sys|sys\/kernel\/mm|sys\/module)\//.test(path);

/** Knobs the agent writes on its own (ksm_merge). */
export const KSM_KNOBS = ['run', 'pages_to_scan', 'sleep_millisecs'].map((k) => `/sys/kernel/mm/ksm/${k}`);

/** Every knob written during a run, with the value it had before; and whether the run merged KSM pages. */
export class Knobs {
  private readonly saved = new Map<string, string>();
  private ksmMerged = false;
  /** pages other processes shared through KSM before the run */
  private readonly ksmSharing = Number(readOr('/sys/kernel/mm/ksm/pages_sharing', '0'));

  constructor() {
    for (const k of KSM_KNOBS) this.remember(k);
  }

  remember(path: string): void {
    if (!isKnob(path) || this.saved.has(path)) return;
    try {
      this.saved.set(path, knobValue(readFileSync(path, 'utf8')));
    } catch {
      // write-only triggers (compact_memory, stat_refresh) and absent knobs: nothing to put back
    }
  }

  /** An agent request about to run: the knobs a write (or the writes in a batch) changes, a KSM merge. */
  note(op: string, args: Record<string, unknown>): void {
    if (op === 'write' && typeof args.path === 'string') this.remember(args.path);
    if (op === 'ksm_merge') this.ksmMerged = true;
    if (op === 'batch') for (const r of (args.reqs as Array<Record<string, unknown>>) ?? []) this.note(String(r.op), r);
  }

  /** Puts every knob back; the values that would not go back are named. */
  restore(): string[] {
    const failed: string[] = [];
    // ksmd counts the merged pages of exited processes until it scans again, and it is stopped
    // now: unmerge (run=2) so the next run does not see them, where no one else shares pages
    if (this.ksmMerged && this.ksmSharing === 0) {
      try {
        writeFileSync('/sys/kernel/mm/ksm/run', '2');
      } catch (e) {
        failed.push(`/sys/kernel/mm/ksm/run=2 (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    for (const [path, value] of this.saved) {
      try {
        if (knobValue(readFileSync(path, 'utf8')) !== value) writeFileSync(path, value);
      } catch (e) {
        failed.push(`${path}=${value} (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    return failed;
  }
}

const readOr = (path: string, fallback: string) => (existsSync(path) ? readFileSync(path, 'utf8') : fallback);

/** Why this machine cannot host the suite, or undefined. */
export function stageProblem(): string | undefined {
  if (process.platform !== 'linux') return 'it runs on Linux only';
  if (process.getuid?.() !== 0) return 'it must run as root: it reads PFNs in pagemap, changes sysctls and sets up swap';
  const other = readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]!);
  if (other.length) return `this machine already swaps to ${other.join(', ')}: the model's swap states assume the harness's zram device alone (swapoff them first)`;
  return undefined;
}

const MEMORY_FS: Record<number, string> = { 0x01021994: 'tmpfs', 0x858458f6: 'ramfs' };

/** Why dir cannot hold the suite's file mappings, or undefined: it must be a directory on a disk file system. */
export function scratchProblem(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return `scratch ${dir} is not a directory`;
  const fs = MEMORY_FS[Number(statfsSync(dir).type)];
  return fs ? `scratch ${dir} is on ${fs}: file pages there are shmem, not page cache; give a directory on a disk file system` : undefined;
}

/** Why this kernel gives the harness no zram device to swap to, or undefined. */
export function zramProblem(): string | undefined {
  if (existsSync('/sys/class/zram-control/hot_add')) return undefined;
  return freeZram() ? undefined : 'this kernel has no free zram device to swap to (CONFIG_ZRAM; zram-control/hot_add)';
}

const freeZram = () => (existsSync('/sys/block') ? readdirSync('/sys/block').find((d) => /^zram\d+$/.test(d) && readFileSync(`/sys/block/${d}/disksize`, 'utf8').trim() === '0') : undefined);

export interface Zram {
  dev: string;
  /** added through zram-control: removed again at the end */
  added: boolean;
}

const quiet = { stdio: ['ignore', 'ignore', 'pipe'] as ['ignore', 'ignore', 'pipe'] };

/** A zram device of its own, swapped to ahead of everything: a fresh one when zram-control can add one. */
export function setUpZram(mib: number): Zram {
  const control = '/sys/class/zram-control/hot_add';
  const z: Zram | undefined = existsSync(control) ? { dev: `zram${readFileSync(control, 'utf8').trim()}`, added: true } : freeZram() ? { dev: freeZram()!, added: false } : undefined;
  if (!z) throw Object.assign(new Error('no zram device (CONFIG_ZRAM) for swap; run with --swap none'), { code: 'ENODEV' });
  try {
    writeFileSync(`/sys/block/${z.dev}/disksize`, `${mib}M`);
    execFileSync('mkswap', [`/dev/${z.dev}`], quiet);
    execFileSync('swapon', [`/dev/${z.dev}`], quiet); // no priority: stageProblem() refuses a machine with other swap
  } catch (e) {
    releaseZram(z);
    throw Object.assign(new Error(`swap on /dev/${z.dev}: ${(e as Error).message.split('\n')[0]}`), { code: 'ENODEV' });
  }
  return z;
}

export function releaseZram(z: Zram): void {
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
