// The JSON results document (results.json and --format json), and the
// grouping the other reports share.
import type { VerdictChange } from '../suite/runner.js';
import { groupOf, type Result } from '../suite/types.js';

export interface RunReport {
  kernel: {
    release?: string;
    version?: string;
    /** /proc/version: the compiler that built it */
    procVersion?: string;
    image?: string;
    cacheKey?: string;
    patches?: string;
    /** the patches applied, in order, when the harness built the kernel */
    series?: string[];
    /** the .config it was built with */
    config?: string;
  };
  /** when the run started (ISO 8601) */
  startedAt?: string;
  /** where the agent ran; console: whether a kernel crash could be seen; qemu: the guest's arch and accelerator */
  target?: { kind: 'qemu' | 'local' | 'ssh' | 'on-target'; address?: string; console: boolean; note?: string; arch?: 'arm64' | 'x86_64'; accel?: 'kvm' | 'tcg' };
  features: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  results: Result[];
  summary: { pass: number; fail: number; skip: number; error: number };
  timings: { bootMs: number; suiteMs: number };
  interrupted?: string;
  /** run --repeat: results are each scenario's worst verdict over the rounds */
  repeat?: { rounds: number; of: number; changed: VerdictChange[]; /** scenario runs that needed another try to reach a precondition */ retried: number };
}

/** "qemu x86_64 under KVM", "ssh board.lab", "local". */
export function targetLine(t: NonNullable<RunReport['target']>): string {
  if (t.kind === 'qemu') return `qemu ${t.arch} under ${(t.accel ?? 'tcg').toUpperCase()}`;
  return t.address ? `${t.kind} ${t.address}` : t.kind;
}

export function summarize(results: readonly Result[]): RunReport['summary'] {
  const s = { pass: 0, fail: 0, skip: 0, error: 0 };
  for (const r of results) s[r.status]++;
  return s;
}

/** The results by group (groupOf(id), --depth full ones apart), groups in order of first appearance. */
export function byGroup(results: readonly Result[]): Map<string, Result[]> {
  const groups = new Map<string, Result[]>();
  for (const r of results) {
    const g = r.depth === 'full' ? `${groupOf(r.id)}.full` : groupOf(r.id);
    const list = groups.get(g);
    if (list) list.push(r);
    else groups.set(g, [r]);
  }
  return groups;
}
