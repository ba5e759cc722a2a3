// Runs scenarios one after another in a booted guest, with honest SKIPs.
import { setTimeout as sleep } from 'node:timers/promises';
import { GuestError, type Channel } from '../protocol/channel.js';
import { Ctx, type Features } from './ctx.js';
import { fromConfig, merge, type Expected } from '../protocol/kconfig.js';
import { CleanupError, Mismatch, PreconditionError } from './failures.js';
import { type Feature } from '../protocol/kconfig.js';
import { type Depth, type Kind, type Needs, type Result, type Scenario } from './types.js';

const FEATURE_PROBE: Record<Feature, (f: Features) => boolean> = {
  'proc-reclaim': (f) => f.interfaces.procReclaim,
  'pmadv-range': (f) => f.interfaces.pmadvRange,
  shrinkmem: (f) => f.interfaces.shrinkmem,
  'process-mrelease': (f) => f.interfaces.processMrelease,
};
const FEATURE_NAMES: Record<Feature, string> = {
  'proc-reclaim': '/proc/PID/reclaim',
  'pmadv-range': 'process_madvise PMADV_FLAG_RANGE',
  shrinkmem: '/dev/shrinkmem',
  'process-mrelease': 'process_mrelease()',
};

/** Why a scenario cannot run here, or undefined. */
export function skipReason(needs: Needs, f: Features): string | undefined {
  if (needs.feature && !FEATURE_PROBE[needs.feature](f)) return `kernel lacks ${FEATURE_NAMES[needs.feature]}`;
  if (needs.swap && f.swap.totalKb === 0) return f.swap.none ?? 'needs swap (run with --swap SIZE)';
  if (needs.hugetlb && f.hugepages.total === 0) return 'needs reserved hugetlb pages';
  if (needs.thp && f.thp === 'unsupported') return 'kernel lacks transparent hugepages';
  if (needs.mthp && !(f.mthp ?? []).includes(needs.mthp)) return `kernel lacks ${needs.mthp} kB anonymous mTHP (Linux 6.8+, /sys/kernel/mm/transparent_hugepage/hugepages-${needs.mthp}kB)`;
  if (needs.ksm && !f.ksm) return 'kernel lacks KSM (CONFIG_KSM)';
  if (needs.ksm && f.ksmSharing) return `other processes already share ${f.ksmSharing} KSM pages on this machine: kpagecount would count their mappers too`;
  return undefined;
}

/**
 * Guest settings of Part C: the flusher off (dirty pages stay dirty, §6.1 row
 * 4b) and a few reserved huge pages for the hugetlb rows.
 */
export async function prepareGuest(guest: Channel, f: Features): Promise<void> {
  // The agent reclaims from CPU 0, where the subjects run (§7.1), as SCHED_FIFO:
  // a SIGKILLed subject cannot preempt it, so the call after the kill meets
  // the process dying, not gone (§2.5, A2 DONTNEED on an exiting process).
  await guest.request('sched_setaffinity', { pid: 0, cpus: [0] });
  await guest.request('sched_fifo', { on: true });
  const set = (path: string, text: string) => guest.request('write', { path, text }).catch(() => undefined);
  await set('/proc/sys/vm/dirty_writeback_centisecs', '0');
  if (f.hugepages.sizeKb && !f.hugepages.total) {
    await set('/proc/sys/vm/nr_hugepages', '4');
    const { text } = await guest.request('read', { path: '/proc/meminfo' });
    f.hugepages.total = Number(/HugePages_Total:\s+(\d+)/.exec(text)?.[1] ?? 0);
  }
}

/** The scenarios whose id matches filter, at that depth: 'default' leaves out the 'full' ones. */
export function selectScenarios(all: readonly Scenario[], filter?: string, depth: Depth = 'default'): Scenario[] {
  const re = filter ? new RegExp(filter) : undefined;
  return all.filter((s) => (!re || re.test(s.id)) && (depth === 'full' || s.depth !== 'full'));
}

/** What kind of not-passing an error is (types.ts Kind). */
export function kindOf(e: unknown): Kind {
  if (e instanceof Mismatch) return 'fail';
  if (e instanceof PreconditionError) return 'precondition';
  if (e instanceof CleanupError) return 'timeout';
  if (e instanceof GuestError) return e.code === 'ETIMEDOUT' ? 'timeout' : e.code === 'ECRASH' || e.code === 'EGUESTEXIT' ? 'crash' : 'harness';
  return 'harness';
}

/** Tries for a scenario whose precondition was not reached (PreconditionError). */
const ATTEMPTS = 3;

/**
 * Runs fn with a fresh Ctx and cleans up after it; again, up to ATTEMPTS in
 * all, while a target was not in the state a step needs (it did not run as
 * written). The error, if any, and the reasons of the tries given up.
 */
export async function attempts(guest: Channel, makeCtx: () => Ctx, fn: (ctx: Ctx) => Promise<void>): Promise<{ error?: unknown; cleanupError?: Error; retried: string[] }> {
  const retried: string[] = [];
  for (;;) {
    const ctx = makeCtx();
    let error: unknown;
    let cleanupError: Error | undefined;
    try {
      await fn(ctx);
    } catch (e) {
      error = e;
    }
    // A subject that would not go can move the next scenario's counters: that is an error of this
    // one, and it ends the tries (a retry would drop it).
    if (guest.alive) await ctx.finish().catch((e: Error) => (cleanupError = e));
    if (!(error instanceof PreconditionError) || cleanupError || retried.length + 1 >= ATTEMPTS || !guest.alive) return { error, cleanupError, retried };
    retried.push(error.message);
    // An idle agent lets CPU 0's other tasks run now, rather than in the fair server's next 50 ms.
    await sleep(100 * retried.length);
  }
}

export interface SuiteHooks {
  /** before a scenario that runs (not one skipped) */
  before?: (s: Scenario) => Promise<void>;
  /** after it, with its result */
  after?: (s: Scenario, r: Result) => Promise<void>;
  /** no more scenarios once this says so */
  stop?: (r: Result) => boolean;
}

/**
 * Runs the scenarios. `expected` names the interfaces the kernel should have
 * (kconfig.ts), and the target's own config adds to them: one the target does
 * not show is a FAIL, never a SKIP, so a broken port cannot pass as an
 * unpatched kernel.
 */
export async function runSuite(guest: Channel, scenarios: readonly Scenario[], onResult: (r: Result) => void = () => {}, expected: Expected = new Map(), hooks: SuiteHooks = {}): Promise<Result[]> {
  const features: Features = guest.features;
  const expect = merge(expected, features.kconfig && fromConfig(features.kconfig.lines.join('\n'), features.kconfig.source));
  await prepareGuest(guest, features);
  // Start the unprivileged workers now; their Node start-up overlaps the first scenarios.
  // A generous limit: a timed-out request marks the guest lost, and a slow start is no kernel bug.
  if (scenarios.some((s) => s.needs.asUser)) for (const uid of [65534, 1000]) guest.request('as_user', { uid, req: { op: 'ping' } }, 120_000).catch(() => undefined);
  const results: Result[] = [];
  // Scenarios that want swap off run last, after one swapoff (§6.1 "no swap" rows).
  // Scenarios with unprivileged workers go late in their group, so the workers' start-up overlaps the rest.
  const late = (s: Scenario) => (s.needs.swap === false ? 2 : 0) + (s.needs.asUser ? 1 : 0);
  const ordered = [...scenarios].sort((a, b) => late(a) - late(b));
  let swapOn = features.swap.totalKb > 0;
  for (const s of ordered) {
    const t0 = Date.now();
    let r: Result;
    const skip = skipReason(s.needs, features);
    if (skip && s.needs.feature && expect.has(s.needs.feature) && !FEATURE_PROBE[s.needs.feature](features)) {
      r = { id: s.id, status: 'fail', kind: 'fail', reason: `expected ${FEATURE_NAMES[s.needs.feature]} (${expect.get(s.needs.feature)}) but the target ${skip.replace(/^kernel /, '')}`, durationMs: 0 };
    } else if (skip) r = { id: s.id, status: 'skip', reason: skip, durationMs: 0 };
    else if (!guest.alive) r = { id: s.id, status: 'error', kind: 'lost', reason: `guest lost earlier: ${guest.lostReason?.code}`, durationMs: 0 };
    else {
      await hooks.before?.(s);
      const ran = await attempts(guest, () => new Ctx(guest, features, s.needs.swap ?? swapOn), async (ctx) => {
        if (s.needs.swap !== undefined && s.needs.swap !== swapOn) {
          await guest.request('swap', { on: s.needs.swap });
          swapOn = s.needs.swap;
        }
        await s.run(ctx);
      });
      // A precondition missed in every try yields to a cleanup that failed after it.
      const e = ran.error instanceof PreconditionError && ran.cleanupError ? ran.cleanupError : ran.error ?? ran.cleanupError;
      if (e === undefined) r = { id: s.id, title: s.title, status: 'pass', durationMs: 0 };
      else {
        const step = e instanceof GuestError ? `step '${e.op}': ` : '';
        r = { id: s.id, title: s.title, status: e instanceof Mismatch ? 'fail' : 'error', kind: kindOf(e), reason: `${step}${(e as Error).message}`, durationMs: 0 };
        if (e instanceof Mismatch && e.findings.length) r.findings = e.findings;
      }
      if (ran.retried.length) r.retried = ran.retried;
      r.durationMs = Date.now() - t0;
      if (guest.alive) await hooks.after?.(s, r);
    }
    if (s.depth === 'full') r.depth = 'full';
    results.push(r);
    onResult(r);
    if (hooks.stop?.(r)) break;
  }
  // Put swap back as it was, so a second round starts where the first did.
  const swapAtStart = features.swap.totalKb > 0;
  if (swapOn !== swapAtStart && guest.alive) await guest.request('swap', { on: swapAtStart });
  return results;
}

/** A scenario whose verdict was not the same in every round of `run --repeat`. */
export interface VerdictChange {
  id: string;
  verdicts: Result['status'][];
  /** the first reason of a round that did not pass */
  reason?: string;
}

const SEVERITY: Record<Result['status'], number> = { pass: 0, skip: 1, fail: 2, error: 3 };

/**
 * Folds the rounds into one result per scenario, the worst verdict of any
 * round (with its reason), and lists the scenarios whose verdict changed.
 */
export function foldRounds(rounds: readonly Result[][]): { results: Result[]; changed: VerdictChange[] } {
  const byId = new Map<string, Array<Result | undefined>>();
  rounds.forEach((round, k) => {
    for (const x of round) {
      if (!byId.has(x.id)) byId.set(x.id, Array<Result | undefined>(rounds.length));
      byId.get(x.id)![k] = x;
    }
  });
  const results: Result[] = [];
  const changed: VerdictChange[] = [];
  for (const [id, each] of byId) {
    const seen = each.filter((x): x is Result => x !== undefined);
    const worst = seen.reduce((a, b) => (SEVERITY[b.status] > SEVERITY[a.status] ? b : a));
    results.push({ ...worst, durationMs: Math.max(...seen.map((x) => x.durationMs)) });
    const verdicts = Array.from(each, (x) => x?.status ?? 'error');
    if (new Set(verdicts).size > 1) changed.push({ id, verdicts, reason: seen.find((x) => x.status !== 'pass' && x.status !== 'skip')?.reason });
  }
  return { results, changed };
}
