// A failing trace as a standalone C program for a kernel maintainer: no Node,
// no agent. It replays the steps with forked worker processes, then checks
// what the model allowed at the failing step; exit 1 when the bug shows.
// Build: aarch64-linux-gnu-gcc (arm64 guest) or gcc (x86_64) -static -O2 -o repro repro.c
import { apply, type Ret } from '../model/apply.js';
import { predict } from '../model/predict.js';
import { initialState, type State, type Step } from '../model/state.js';
import type { Finding } from '../model/compare.js';
import { mapKinds, nativeSource } from '../protocol/abi.js';

const PROCS = ['P', 'C', 'Q'];
const ADVICE: Record<string, string> = { cold: 'MADV_COLD', pageout: 'MADV_PAGEOUT', willneed: 'MADV_WILLNEED', dontneed: 'MADV_DONTNEED', free: 'MADV_FREE' };

/** A C string literal for arbitrary bytes (latin1 text). */
function cBytes(text: string): string {
  return `"${[...Buffer.from(text, 'latin1')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x3f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}""`)).join('')}"`;
}

const idx = (p: string) => PROCS.indexOf(p);
const mapNo = (m: string) => Number(m.replace(/^\D+/, ''));

/** The allowed returns as a C condition on (ret, err). */
/**
 * The C condition for the allowed returns. written: the step writes text whose byte count is the
 * success value; the model replays with made-up addresses, so a range's text length is the one
 * the reproducer wrote (last_len), not the model's.
 */
function retCondition(allowed: Ret[], written = false): string {
  const ok = (v: Ret & { ok: true }) => (v.value === undefined ? 'last_ret >= 0' : written ? 'last_ret == (long)last_len' : `last_ret == ${v.value}L`);
  return allowed.map((a) => (a.ok ? ok(a) : `(last_ret < 0 && last_err == ${a.code})`)).join(' || ') || '1';
}

/** Replays the model to step k (inclusive): the state after it and its allowed returns. */
function modelAt(steps: readonly Step[], k: number, pageSize: number): { state: State; allowed: Ret[] } {
  let s = initialState({ pageSize, procReclaim: true, pmadvRange: true, shrinkmem: true }, true);
  let allowed: Ret[] = [];
  steps.slice(0, k + 1).forEach((st, i) => {
    const reply = st.op === 'spawn' || st.op === 'fork' ? { pid: 100 + i } : st.op === 'map' ? { addr: 0x10000000n + BigInt(i) * 0x10000000n } : {};
    const a = apply(s, st, reply);
    s = a.state;
    allowed = a.expect.allowed;
  });
  return { state: s, allowed };
}

function stepCode(st: Step, pagesOf: ReadonlyMap<string, number>): string {
  const sp = (x: { m: string; first?: number; count?: number }) => {
    const first = x.first ?? 0;
    return `${mapNo(x.m)}, ${first}, ${x.count ?? pagesOf.get(x.m)! - first}`;
  };
  switch (st.op) {
    case 'spawn': return `spawn(${idx(st.p)});`;
    case 'fork': return `cmd(${idx(st.p)}, OP_FORK, ${idx(st.child)}, 0, 0, 0);`;
    case 'map': return `cmd(${idx(st.p)}, OP_MAP, ${mapNo(st.m)}, ${mapKinds().indexOf(st.kind)}, ${st.pages}, ${st.locked ? 1 : 0}); /* ${st.kind} */`;
    case 'unmap': return `cmd(${idx(st.p)}, OP_UNMAP, ${sp(st.span)}, 0);`;
    case 'touch': return `cmd(${idx(st.p)}, OP_TOUCH_${st.how.toUpperCase()}, ${sp(st.span)}, 0);`;
    case 'madvise': return `cmd(${idx(st.p)}, OP_ADVISE, ${sp(st.span)}, ${ADVICE[st.advice]});`;
    case 'mlock': return `cmd(${idx(st.p)}, OP_MLOCK, ${mapNo(st.m)}, 0, 0, 0);`;
    case 'munlock': return `cmd(${idx(st.p)}, OP_MUNLOCK, ${mapNo(st.m)}, 0, 0, 0);`;
    case 'reclaim': {
      const t = idx(st.target);
      if (st.range) return `reclaim_range(${t}, ${sp(st.range)}, ${st.range.extraBytes ?? 0});`;
      const text = st.mode ?? st.text!;
      return `reclaim_text(${t}, ${cBytes(text)}, ${Buffer.from(text, 'latin1').length});`;
    }
    case 'pmadvise': {
      const t = idx(st.target);
      if (!st.vec) return `pmadvise(${t}, NULL, 0, ${ADVICE[st.advice]}, ${st.flags ?? 0});`;
      const iov = st.vec.map((v) => `{ ${sp(v)}, ${v.offset ?? 0}, ${v.len ?? -1} }`).join(', ');
      return `{ static const struct span v[] = { ${iov} }; pmadvise(${t}, v, ${st.vec.length}, ${ADVICE[st.advice]}, ${st.flags ?? 0}); }`;
    }
    case 'kill': return `sigkill(${idx(st.p)});`;
    case 'mrelease': return `mrelease(${idx(st.p)}, ${st.flags ?? 0});`;
    case 'reap': return `reap(${idx(st.p)});`;
    case 'verify': return `cmd(${idx(st.p)}, OP_READALL, 0, 0, 0, 0);`;
    case 'swap': return `/* swap ${st.on ? 'on' : 'off'}: not replayed (the device is the harness's zram) */`;
    case 'shrinkmem': return `shrinkmem(${cBytes(st.text)});`;
    case 'mthp': return `write_file("/sys/kernel/mm/transparent_hugepage/hugepages-${st.kb}kB/enabled", "${st.on ? 'always' : 'never'}", ${st.on ? 6 : 5}); /* not put back */`;
    case 'merge': return `/* KSM merge: not replayed */`;
  }
}

export function reproducer(steps: readonly Step[], findings: readonly Finding[], o: { pageSize: number; title: string }): string {
  const k = Math.max(0, Number(/^(\d+):/.exec(findings[0]?.step ?? '')?.[1] ?? steps.length) - 1);
  const { state, allowed } = modelAt(steps, k, o.pageSize);
  const preds = predict(state);
  const checks: string[] = [];
  const pageFindings = findings.filter((f) => f.addr && f.vma);
  if (!pageFindings.length) checks.push(`check_ret(${JSON.stringify(`step ${k + 1} returned an outcome the model forbids`)}, ${retCondition(allowed, steps[k]?.op === 'reclaim')});`);
  for (const f of pageFindings.slice(0, 8)) {
    const label = f.process!.split(' ')[0]!;
    const [m, , range] = f.vma!.split(' ');
    const start = BigInt(range!.split('-')[0]!);
    const page = Number((BigInt(f.addr!) - start) / BigInt(o.pageSize));
    const pred = preds.find((x) => x.proc.label === label && x.vma.label === m)?.pages[page];
    if (!pred || pred.state === 'any') continue;
    const state = { present: 'PM_PRESENT', swapped: 'PM_SWAP', none: '0' }[pred.state];
    const x = pred.exclusive === undefined || pred.exclusive === 'any' ? -1 : pred.exclusive ? 1 : 0;
    checks.push(`check_page(${idx(label)}, ${mapNo(m!)}, ${page}, ${state}, ${x}, ${JSON.stringify(`${f.rule}: ${f.explain}`.slice(0, 200))});`);
  }
  const pagesOf = new Map(steps.flatMap((st) => (st.op === 'map' ? [[st.m, st.pages] as const] : [])));
  const body = steps.slice(0, k + 1).map((st, i) => `\t/* ${i + 1} */ ${stepCode(st, pagesOf)}`);
  return `${runtime().replace('@TITLE@', o.title.replace(/\*\//g, '* /'))}
int main(int argc, char **argv)
{
	setup(argc > 1 ? argv[1] : NULL);
${body.join('\n')}
	${checks.join('\n\t')}
	printf("repro: no bug seen: every check held\\n");
	return 0;
}
`;
}

/** The worker protocol and checks every reproducer shares, with the uapi header inlined: one standalone file. */
const runtime = () => nativeSource('repro-runtime.c').replace('#include "uapi.h"\n', nativeSource('uapi.h'));
