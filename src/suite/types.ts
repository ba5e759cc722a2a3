// What a scenario is: data (id, needs) plus one small async function.
import type { Ctx } from './ctx.js';
import type { Finding } from '../model/compare.js';
import type { Step } from '../model/state.js';
import type { Feature } from '../protocol/kconfig.js';


/** What a scenario requires of the kernel and guest, as LTP's tst_test does. */
export interface Needs {
  feature?: Feature;
  /** true: a swap device, on; false: run with swap turned off */
  swap?: boolean;
  hugetlb?: boolean;
  thp?: boolean;
  ksm?: boolean;
  /** an anonymous mTHP folio size in kB, turned on ('always') for the scenario */
  mthp?: number;
  /** uses unprivileged agent workers (as_user): started early */
  asUser?: boolean;
}

export interface Scenario {
  id: string;
  title: string;
  needs: Needs;
  /** 'full': only with --depth full (and in mutate), for scenarios too slow for the default suite */
  depth?: Depth;
  /**
   * Why it holds on a kernel whose patched interfaces accept every call and do nothing (an errno
   * or parser row, a return value only): what `mutants` says of it when it passes on every no-op
   * kernel (qemu/mutants/*-noop-*). A scenario that claims an effect has none, and fails there.
   */
  noEffect?: string;
  /** a trace scenario's steps, as data (trace.ts) */
  steps?: readonly Step[];
  run(ctx: Ctx): Promise<void>;
}

export type Depth = 'default' | 'full';

export type Status = 'pass' | 'fail' | 'skip' | 'error';


/**
 * Why a scenario did not pass, as data: 'fail', the kernel broke a rule; 'timeout', a step (or
 * the exit of a killed subject) never finished; 'crash', the kernel crashed or the guest died
 * mid-step; 'precondition', a named state the scenario needs was not reached in any try;
 * 'lost', the target was gone before the scenario began; 'harness', an error of the harness or
 * its agent. The first three are the kernel's doing: `mutants` counts them as kills.
 */
export type Kind = 'fail' | 'timeout' | 'crash' | 'precondition' | 'lost' | 'harness';

export interface Result {
  id: string;
  title?: string;
  status: Status;
  /** for status 'fail' and 'error': why, as data */
  kind?: Kind;
  /** one line: the first finding, the skip reason, or the error */
  reason?: string;
  /** every forbidden observation (status 'fail') */
  findings?: Finding[];
  durationMs: number;
  /** attempts that did not reach the scenario's precondition, each with why */
  retried?: string[];
  /** set for a --depth full scenario, which the reports show apart */
  depth?: Depth;
}

/** The KTAP/JUnit group of a scenario: the first component of its id. */
export const groupOf = (id: string) => id.split('.')[0]!;
