// How a scenario ends other than by passing: each error class the runner turns into a verdict.
import type { Finding } from '../model/compare.js';

/**
 * A scenario's precondition (a dying or zombie target) was not reached, so it
 * never ran as written: no verdict; the runner tries it again.
 */
export class PreconditionError extends Error {}

/** A killed subject that did not exit, or another cleanup step that never finished: an ERROR that counts. */
export class CleanupError extends Error {}

/** An expectation the kernel did not meet: a FAIL, as opposed to an ERROR. */
export class Mismatch extends Error {
  constructor(message: string, readonly findings: Finding[] = []) {
    super(message);
  }
}
