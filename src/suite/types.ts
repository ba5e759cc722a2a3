// What a scenario is: data (id, needs) plus one small async function.
import type { Ctx } from './ctx.js';

export type Feature = 'proc-reclaim' | 'pmadv-range' | 'shrinkmem' | 'process-mrelease';

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
  run(ctx: Ctx): Promise<void>;
}

export type Depth = 'default' | 'full';

export type Status = 'pass' | 'fail' | 'skip' | 'error';

/** One forbidden observation, explained: what the comparator reports for a FAIL. */
export interface Finding {
  /** the step, as '3: reclaim P anon' */
  step: string;
  /** process label and pid, e.g. 'P (pid 123)' */
  process?: string;
  /** page address in hex, when the finding is about a page */
  addr?: string;
  /** the VMA and its mapping type, e.g. 'm1 anon-private 0x7f..-0x7f.. (32 pages)' */
  vma?: string;
  /** what the model allowed, decoded */
  expected: string;
  /** what the kernel showed, decoded */
  observed: string;
  /** spec section the rule comes from, e.g. '§6.1 row 10' */
  rule: string;
  /** one line: why this is wrong */
  explain: string;
}

export interface Result {
  id: string;
  title?: string;
  status: Status;
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

/**
 * A scenario's precondition (a dying or zombie target) was not reached, so it
 * never ran as written: no verdict; the runner tries it again.
 */
export class PreconditionError extends Error {}

/** An expectation the kernel did not meet: a FAIL, as opposed to an ERROR. */
export class Mismatch extends Error {
  constructor(message: string, readonly findings: Finding[] = []) {
    super(message);
  }
}
