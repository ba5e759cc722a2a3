// Which steps of a trace change pages through a patched interface, in the model: a trace whose
// patched steps change nothing passes as well on a kernel where those interfaces do nothing
// (qemu/mutants/*-noop-*), and says so rather than claim an effect (issue 21).
import { apply, type Reply } from './apply.js';
import { initialState, type Kernel, type State, type Step } from './state.js';

/** A step that goes through one of the series' interfaces (spec A1-A3). */
export const isPatchedStep = (st: Step): boolean => st.op === 'reclaim' || st.op === 'shrinkmem' || (st.op === 'pmadvise' && (((st.flags ?? 0) & 1) === 1 || st.advice === 'dontneed'));

/** Every page's state and every object page's, as one string. */
const pagesOf = (s: State) => JSON.stringify([s.procs.map((p) => p.vmas.map((v) => v.ptes.map((t) => t.t))), Object.values(s.objs).map((o) => o.pages.map((pg) => [pg.cached, pg.swapped]))]);

/** The patched steps (1-based numbers) after which some page differs, replayed with made-up pids and addresses. */
export function patchedEffects(steps: readonly Step[], kernel: Kernel, swap: boolean): number[] {
  let s = initialState(kernel, swap);
  let nextAddr = 0x10000000n;
  const out: number[] = [];
  steps.forEach((st, k) => {
    const reply: Reply = st.op === 'spawn' || st.op === 'fork' ? { pid: 100 + s.procs.length } : st.op === 'map' ? { addr: (nextAddr += 0x10000000n) } : {};
    const a = apply(s, st, reply);
    if (isPatchedStep(st) && pagesOf(a.state) !== pagesOf(s)) out.push(k + 1);
    s = a.state;
  });
  return out;
}
