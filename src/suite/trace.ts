// Scenarios as traces: a list of model steps, performed in the guest and
// replayed in the reference model. After each step the return value and every
// page of every live process are compared with what the model allows.
import { decodePagemap } from '../protocol/pagemap.js';
import { SubjectError, subjectLine, type SubjectClient } from '../protocol/subject.js';
import { batchReplies, GuestError } from '../protocol/channel.js';
import { apply, iovecsOf, reclaimText, type Reply, type Ret } from '../model/apply.js';
import { compare, retAllowed, showRet, type Observation, type PageObs } from '../model/compare.js';
import { observed, predict, predictProcs } from '../model/predict.js';
import { initialState, proc, spanPages, vma, type Kernel, type Span, type State, type Step } from '../model/state.js';
import { type Ctx } from './ctx.js';
import { ABI } from '../protocol/abi.js';
import { Mismatch, PreconditionError } from './failures.js';
import { type Finding } from '../model/compare.js';
import { type Needs, type Scenario } from './types.js';
import { agentRequest, type AgentRequest, type Args, type ObserveReply, type Op, type Result } from '../protocol/ops.js';

/** A step's agent request, and how to read what came back for it. */
interface Pending {
  req: AgentRequest;
  decode: (r: unknown) => Decoded;
}

/** The request op(args), read by decode: a batch's k-th result is its k-th request's (protocol/ops.ts). */
function pending<K extends Op>(op: K, args: Args<K>, decode: (r: Result<K> | GuestError) => Decoded): Pending {
  return { req: agentRequest(op, args), decode: decode as (r: unknown) => Decoded };
}

const ADVICE = { cold: ABI.MADV_COLD, pageout: ABI.MADV_PAGEOUT, willneed: ABI.MADV_WILLNEED, dontneed: ABI.MADV_DONTNEED, free: ABI.MADV_FREE } as const;
/** Steps after which nothing observable can have changed. */
const QUIET = new Set<Step['op']>(['spawn', 'map', 'munlock', 'kill']);

/** A step as one line: "reclaim P anon", "touch P m1 write 0+8". */
export function describeStep(st: Step): string {
  const sp = (x: { m: string; first?: number; count?: number }) => `${x.m}${x.first !== undefined ? ` ${x.first}+${x.count ?? '…'}` : ''}`;
  switch (st.op) {
    case 'spawn': return `spawn ${st.p}${st.uid !== undefined ? ` uid ${st.uid}` : ''}`;
    case 'fork': return `fork ${st.p} -> ${st.child}`;
    case 'map': return `map ${st.p} ${st.m} ${st.kind} ${st.pages}${st.locked ? ' locked' : ''}${st.thp ? ' thp' : ''}${st.file ? ` file ${st.file}` : ''}`;
    case 'unmap': return `unmap ${st.p} ${sp(st.span)}`;
    case 'touch': return `touch ${st.p} ${sp(st.span)} ${st.how}`;
    case 'merge': return `KSM merge ${st.p} ${st.m}`;
    case 'madvise': return `madvise ${st.p} ${sp(st.span)} ${st.advice}`;
    case 'mlock':
    case 'munlock': return `${st.op} ${st.p} ${st.m}`;
    case 'reclaim': return `reclaim ${st.target} ${st.mode ?? (st.range ? `range ${sp(st.range)}` : JSON.stringify(st.text))}`;
    case 'pmadvise': return `process_madvise ${st.target} ${st.advice} ${st.vec ? st.vec.map(sp).join(',') : 'NULL'} flags ${st.flags ?? 0}`;
    case 'kill': return `SIGKILL ${st.p}`;
    case 'mrelease': return `process_mrelease ${st.p}${st.flags ? ` flags ${st.flags}` : ''}`;
    case 'reap': return `reap ${st.p}`;
    case 'verify': return `verify ${st.p}`;
    case 'swap': return st.on ? 'swapon' : 'swapoff';
    case 'shrinkmem': return `shrinkmem ${JSON.stringify(st.text)}`;
    case 'mthp': return `${st.kb} kB mTHP ${st.on ? 'always' : 'never'}`;
  }
}

export function kernelOf(ctx: Ctx): Kernel {
  const f = ctx.features.interfaces;
  return { pageSize: ctx.page, procReclaim: f.procReclaim, pmadvRange: f.pmadvRange, shrinkmem: f.shrinkmem, release: ctx.features.kernel.release, cpus: ctx.features.cpus };
}

/**
 * Runs the steps; throws Mismatch with the findings of the first step that shows any.
 * `pre` looks at each step's observation: a reason from it means the step did not set up what
 * the scenario is about (PreconditionError, tried again).
 */
export async function runTrace(ctx: Ctx, steps: readonly Step[], o: { pre?: (st: Step, o: Observation) => string | undefined; align?: number } = {}): Promise<State> {
  const { pre } = o;
  let s = initialState(kernelOf(ctx), ctx.swapOn);
  const t = new TraceRun(ctx, o.align);
  for (let k = 0; k < steps.length; ) {
    // Usually one step; a SIGKILL goes in one batch with the step after it (and
    // a process_mrelease there with the one after that, unless it is the reap),
    // so that step, and the observation after it, meets the process dying rather
    // than gone: the subject shares CPU 0 with the agent and cannot run its exit
    // until the batch is done.
    const group: Array<{ label: string; a: ReturnType<typeof apply>; got: Ret; detail?: string; decode?: (r: unknown) => { got: Ret; detail?: string } }> = [];
    const reqs: AgentRequest[] = [];
    let cur = s;
    do {
      const st = steps[k]!;
      const raw = t.request(cur, st);
      const label = `${k + 1}: ${describeStep(st)}`;
      if (raw) {
        // The model knows before the step runs which pages it will want to see.
        const a = apply(cur, st);
        group.push({ label, a, got: { ok: true }, decode: raw.decode });
        reqs.push(raw.req);
      } else {
        if (group.length) break;
        const r = await t.perform(st);
        group.push({ label, a: apply(cur, st, r.reply), got: r.got, detail: r.detail });
      }
      cur = group.at(-1)!.a.state;
      k++;
    } while ((steps[k - 1]!.op === 'kill' || (steps[k - 1]!.op === 'mrelease' && group.length > 1 && steps[k]?.op !== 'reap')) && k < steps.length);
    const lastOp = steps[k - 1]!.op;
    const observe = QUIET.has(lastOp) ? [] : t.observeRequests(cur);
    const results = reqs.length || observe.length ? await ctx.guest.batch([...reqs, ...observe]) : [];
    let n = 0;
    for (const g of group) if (g.decode) ({ got: g.got, detail: g.detail } = g.decode(results[n++]));
    const findings: Finding[] = [];
    for (const g of group) {
      if (!retAllowed(g.a.expect.allowed, g.got)) {
        findings.push({ step: g.label, expected: g.a.expect.allowed.map(showRet).join(' or '), observed: showRet(g.got) + (g.detail ? ` (${g.detail})` : ''), rule: g.a.expect.rule, explain: g.a.expect.note });
      }
    }
    s = cur;
    if (!findings.length && observe.length) {
      const o = t.observation(s, results.slice(n));
      const why = pre?.(steps[k - 1]!, o);
      if (why) throw new PreconditionError(`precondition not reached after step ${group.at(-1)!.label}: ${why}`);
      const v = compare(s, predict(s), o, group.at(-1)!.label, predictProcs(s));
      findings.push(...v.findings);
      s = v.state;
    }
    if (findings.length) throw new Mismatch(`${findings[0]!.step}: ${findings[0]!.explain}`, findings);
  }
  return s;
}


/** Why /proc/PID/status does not show a dying process (SIGKILL pending, not yet a zombie), or undefined. */
export function notDying(status: string | undefined): string | undefined {
  if (status === undefined) return 'it is gone';
  const state = /^State:\s+(\S)/m.exec(status)?.[1] ?? '?';
  if (state === 'Z' || state === 'X') return `it is already in state ${state}`;
  const pending = (k: string) => BigInt(`0x${new RegExp(`^${k}:\\s+([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'}`);
  const SIGKILL_BIT = 1n << BigInt(ABI.SIGKILL - 1);
  if (!((pending('SigPnd') | pending('ShdPnd')) & SIGKILL_BIT)) return `no SIGKILL is pending (state ${state})`;
  return undefined;
}
type Decoded = { got: Ret; detail?: string };

/** The guest side of a trace: subjects by label, pidfds, file names. */
class TraceRun {
  private subjects = new Map<string, SubjectClient>();
  private pidfds = new Map<string, number>();
  private mapIds = new Map<string, number>();
  private static seq = 0;
  private readonly tag = `t${Date.now().toString(36)}${++TraceRun.seq}`;

  /** align: every mapping's start aligned to this many bytes */
  constructor(private readonly ctx: Ctx, private readonly align?: number) {}

  private subject(p: string): SubjectClient {
    const c = this.subjects.get(p);
    if (!c) throw new Error(`trace: no subject '${p}'`);
    return c;
  }

  private pidfd(p: string): number {
    const fd = this.pidfds.get(p);
    if (fd === undefined) throw new Error(`trace: no pidfd for '${p}'`);
    return fd;
  }

  /** The subject's id of a model mapping (a forked child keeps its parent's ids). */
  private mapId(p: string, m: string): number {
    const id = this.mapIds.get(`${p}/${m}`);
    if (id === undefined) throw new Error(`trace: ${p} has no mapping '${m}'`);
    return id;
  }

  /** Steps whose reply the model needs (pids, addresses): performed on their own. */
  async perform(st: Step): Promise<Decoded & { reply?: Reply }> {
    const ctx = this.ctx;
    switch (st.op) {
      case 'spawn': {
        const c = await ctx.spawn(st.uid);
        this.subjects.set(st.p, c);
        this.pidfds.set(st.p, c.pidfd);
        return { got: { ok: true }, reply: { pid: c.pid } };
      }
      case 'fork': {
        const c = await ctx.fork(this.subject(st.p));
        this.subjects.set(st.child, c);
        this.pidfds.set(st.child, await ctx.pidfd(c.pid));
        for (const [k, id] of [...this.mapIds]) if (k.startsWith(`${st.p}/`)) this.mapIds.set(`${st.child}/${k.slice(st.p.length + 1)}`, id);
        return { got: { ok: true }, reply: { pid: c.pid } };
      }
      case 'map': {
        const file = st.kind.startsWith('file') ? `${ctx.scratch}/${this.tag}-${st.file ?? `${st.p}.${st.m}`}.dat` : undefined;
        try {
          const m = await this.subject(st.p).map(st.kind, st.pages, { path: file, locked: st.locked, thp: st.thp, keep: st.keep, align: this.align });
          this.mapIds.set(`${st.p}/${st.m}`, m.id);
          return { got: { ok: true }, reply: { addr: m.addr } };
        } catch (e) {
          if (e instanceof SubjectError) return { got: { ok: false, code: e.code }, detail: e.message };
          throw e;
        }
      }
      case 'mthp':
        await ctx.setKnob(mthpKnob(st.kb), st.on ? 'always' : 'never');
        return { got: { ok: true } };
      case 'merge': {
        const c = this.subject(st.p);
        await c.madvise(this.mapId(st.p, st.m), 'mergeable');
        await ctx.guest.request('ksm_merge', {}, 60_000);
        return { got: { ok: true } };
      }
      default:
        throw new Error(`trace: step '${st.op}' is batched`);
    }
  }

  /** The agent request of a step that needs no reply, and how to read its result; undefined for perform()'s steps. */
  request(s: State, st: Step): Pending | undefined {
    const subj = (p: string, line: string) =>
      pending('subject', { pid: proc(s, p).pid, line }, (r): Decoded => {
        if (r instanceof GuestError) throw r;
        // verify's reply carries the bad pages (native/subject.c)
        const x = r as { ok: boolean; error?: string; msg?: string; badCount?: number; checked?: number; bad?: Array<{ map: number; page: number; addr: string; expect: string; found: string }> };
        if (!x.ok) return { got: { ok: false, code: String(x.error) }, detail: `subject '${line}': ${x.msg}` };
        if (x.badCount === undefined) return { got: { ok: true } };
        const bad = (x.bad ?? []).slice(0, 3).map((b) => `map ${b.map} page ${b.page} at ${b.addr}: expected ${b.expect}, found ${b.found}`).join('; ');
        return { got: { ok: true, value: x.badCount }, detail: x.badCount ? `${x.badCount} of ${x.checked} pages wrong: ${bad}` : undefined };
      });
    /** An agent call whose errno is an outcome, not an error. */
    const call = <K extends Op>(op: K, args: Args<K>, value?: (r: Result<K>) => number | bigint) =>
      pending(op, args, (r): Decoded => {
        if (r instanceof GuestError) {
          if (['ETIMEDOUT', 'ECRASH', 'EGUESTEXIT', 'EAGENT', 'ENOSYS'].includes(r.code)) throw r;
          return { got: { ok: false, code: r.code } };
        }
        return { got: { ok: true, value: value?.(r) } };
      });
    const range = (sp: { p: string; span: Span }) => {
      const [a, b] = spanPages(vma(s, sp.p, sp.span.m), sp.span);
      return { first: a, count: b - a };
    };
    switch (st.op) {
      case 'spawn':
      case 'fork':
      case 'map':
      case 'merge':
      case 'mthp':
        return undefined;
      case 'unmap':
        return subj(st.p, subjectLine.unmap(this.mapId(st.p, st.span.m), range(st)));
      case 'touch':
        return subj(st.p, subjectLine.touch(this.mapId(st.p, st.span.m), st.how, range(st)));
      case 'madvise':
        return subj(st.p, subjectLine.madvise(this.mapId(st.p, st.span.m), st.advice, range(st)));
      case 'mlock':
        return subj(st.p, subjectLine.mlock(this.mapId(st.p, st.m)));
      case 'munlock':
        return subj(st.p, subjectLine.munlock(this.mapId(st.p, st.m)));
      case 'verify':
        return subj(st.p, subjectLine.verify());
      case 'reclaim':
        return call('write', { path: `/proc/${proc(s, st.target).pid}/reclaim`, text: reclaimText(s, st) }, (r) => r.ret);
      case 'pmadvise': {
        const iov = iovecsOf(s, st);
        return call('process_madvise', { fd: this.pidfd(st.target), iovecs: iov && iov.map(([a, l]) => [a.toString(), String(l)]), advice: ADVICE[st.advice], flags: st.flags ?? 0 }, (r) => BigInt(r.ret));
      }
      case 'kill': {
        const p = proc(s, st.p);
        const kill = call('pidfd_send_signal', { fd: this.pidfd(st.p), sig: ABI.SIGKILL });
        if (p.state !== 'live') return kill;
        // The next step is for a dying process: confirm from /proc that it is one.
        const reqs: AgentRequest[] = [kill.req, { op: 'read', path: `/proc/${p.pid}/status` }];
        return pending('batch', { reqs }, (r): Decoded => {
          if (r instanceof GuestError) return kill.decode(r);
          const [sent, status] = batchReplies(reqs, r.results);
          if (sent instanceof GuestError) return kill.decode(sent);
          const why = notDying(status instanceof GuestError ? undefined : (status as Result<'read'>).text);
          if (why) throw new PreconditionError(`precondition not reached: ${st.p} (pid ${p.pid}) should be dying after SIGKILL, but ${why}`);
          return { got: { ok: true } };
        });
      }
      case 'mrelease':
        return call('process_mrelease', { fd: this.pidfd(st.p), flags: st.flags ?? 0 });
      case 'reap': {
        const p = proc(s, st.p);
        return p.parent ? subj(p.parent, subjectLine.wait(p.pid)) : call('reap', { pid: p.pid });
      }
      case 'swap':
        return call('swap', { on: st.on });
      case 'shrinkmem':
        return call('write', { path: '/dev/shrinkmem', text: st.text }, (r) => r.ret);
    }
  }

  /** One observe request per observed process with mappings. */
  observeRequests(s: State): AgentRequest[] {
    return s.procs.filter((p) => observed(p) && p.vmas.length).map((p) => ({ op: 'observe', pid: p.pid, ranges: p.vmas.map((v) => [v.start.toString(), v.pages] as [string, number]), smaps: true, status: true, kpage: true }));
  }

  /** The observe results, in observeRequests() order, as the comparator's Observation. */
  observation(s: State, results: unknown[]): Observation {
    const obs: Observation = {};
    const procs = s.procs.filter((p) => observed(p) && p.vmas.length);
    procs.forEach((p, n) => {
      const r = results[n];
      if (r instanceof GuestError) throw r;
      const o = r as ObserveReply; // the batch's k-th result is its k-th request's
      // A dying process counts only if its mm outlived the observation: observe reads status last,
      // and exit_mm() clears task->mm (VmSize goes) before exit_mmap() tears the mm down.
      if (o.gone || (p.state === 'dying' && o.status?.VmSize === undefined)) {
        obs[p.label] = { pid: p.pid, gone: o.gone ?? 'exiting', vmas: {} };
        return;
      }
      // Raw little-endian entries (base64): pagemap per range; kpagecount and kpageflags per page
      // of all the ranges in order, meaningful where the pagemap entry shows a PFN.
      const raw = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64'));
      const counts = raw(o.kpagecount);
      const kflags = raw(o.kpageflags);
      let k = 0;
      const vmas: Observation[string]['vmas'] = {};
      p.vmas.forEach((v, j) => {
        const pm = raw(o.pagemap![j])!;
        const pages: PageObs[] = [];
        for (let i = 0; i + 8 <= pm.length; i += 8, k++) {
          const e = decodePagemap(pm.readBigUInt64LE(i));
          const shown = e.pfn !== undefined && e.pfn !== 0n;
          const count = counts && shown ? counts.readBigUInt64LE(k * 8) : null;
          const bits = kflags && shown ? kflags.readBigUInt64LE(k * 8) : undefined;
          const bit = (n: bigint) => (bits === undefined ? undefined : ((bits >> n) & 1n) === 1n);
          // KPF_ZERO_PAGE 24; KPF_COMPOUND_HEAD 15 and _TAIL 16 (Documentation/admin-guide/mm/pagemap.rst)
          pages.push({ present: e.present, swapped: e.swapped, file: e.fileShared, exclusive: e.exclusive, pfn: e.pfn, swapOffset: e.swapOffset, mapcount: count, zeroPage: bit(24n), large: bits === undefined ? undefined : bit(15n)! || bit(16n)! });
        }
        vmas[v.label] = { pages, smaps: o.smaps?.[j] ?? undefined };
      });
      obs[p.label] = { pid: p.pid, vmas, status: o.status };
    });
    return obs;
  }
}

/** A scenario whose body is a trace. */
export const mthpKnob = (kb: number) => `/sys/kernel/mm/transparent_hugepage/hugepages-${kb}kB/enabled`;

export function traceScenario(id: string, title: string, needs: Needs, steps: Step[], more: Pick<Scenario, 'noEffect'> = {}): Scenario {
  return {
    id,
    title,
    needs,
    ...more,
    steps,
    run: async (ctx) => {
      if (needs.mthp) {
        // Only kb-sized folios: every other size off (a 2 MiB-aligned mapping would take a PMD THP).
        for (const kb of ctx.features.mthp ?? []) await ctx.setKnob(mthpKnob(kb), kb === needs.mthp ? 'always' : 'never');
        // Free 64 kB blocks, so the faults get large folios even in a long-running, fragmented guest.
        await ctx.guest.request('write', { path: '/proc/sys/vm/compact_memory', text: '1' }).catch(() => undefined);
      }
      // The scenario is about splitting them: the first touch must have made every folio of the
      // mappings large (KPF_COMPOUND_*); in a fragmented guest some faults fall back to small pages.
      let touched = false;
      // Mappings start on a folio boundary (a 512-page mapping is otherwise one page past its guard).
      await runTrace(ctx, steps, !needs.mthp ? {} : { align: needs.mthp * 1024, pre: (st, o) => {
        if (st.op !== 'touch' || touched) return undefined;
        touched = true;
        const small = Object.values(o).flatMap((p) => Object.entries(p.vmas).map(([m, v]) => [m, v.pages.flatMap((x, i) => (x.present && x.large === false ? [i] : []))] as const)).filter(([, at]) => at.length);
        return small.length ? `${small.map(([m, at]) => `${at.length} pages of ${m} (from page ${at[0]})`).join(', ')} in small folios, not ${needs.mthp} kB ones` : undefined;
      } });
    },
  };
}
