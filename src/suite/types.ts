// What a scenario is: data (id, needs) plus one small async function.
import type { Ctx } from './ctx.js';

export type Feature = 'proc-reclaim' | 'pmadv-range' | 'shrinkmem' | 'process-mrelease';

/** What a scenario requires of the kernel and guest, as LTP's tst_test does. */
export interface Needs {
  feature?: Feature;
  swap?: boolean;
  hugetlb?: boolean;
  thp?: boolean;
}

export interface Scenario {
  id: string;
  title: string;
  needs: Needs;
  run(ctx: Ctx): Promise<void>;
}

export type Status = 'pass' | 'fail' | 'skip' | 'error';

export interface Result {
  id: string;
  status: Status;
  reason?: string;
  durationMs: number;
}

/** An expectation the kernel did not meet: a FAIL, as opposed to an ERROR. */
export class Mismatch extends Error {}
