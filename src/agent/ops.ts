// The agent's operations: what each request of protocol/ops.ts does on the target. main.ts serves
// them over a port or a pipe; runner.cjs calls them in-process.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, constants as fsc, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, release, version } from 'node:os';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { loadNative, type Native } from '../native.js';
import { JsonLineChannel, lineReader } from '../protocol/lines.js';
import { pfnsOf, readEntries, readRaw, readRawAt } from './pagemap.js';
import { pickKeyValues, smapsFieldsOf } from '../protocol/procfs.js';
import { Subject } from './subject.js';
import { configLines } from '../protocol/kconfig.js';
import { ENV } from '../protocol/env.js';
import type { AgentRequest, Args, BatchReply, Features, ObserveReply, Op, Result } from '../protocol/ops.js';
import { Knobs, releaseZram, scratchProblem, setUpZram, stageProblem, zramProblem, type Zram } from './stage.js';

/** One handler per op of the protocol's table, typed by it. */
type Handlers = { [K in Op]: (r: Args<K>) => Result<K> | Promise<Result<K>> };

const SHIM = process.env[ENV.shim];
const SUBJECT = process.env[ENV.subject] ?? '/opt/reclaim/subject';
/** Node itself, to start workers: the bundle's launcher where Node runs through its own loader. */
const NODE = process.env[ENV.node] ?? process.execPath;

/** Where the agent runs: the guest's swap device and scratch mount, unless the host or stage() says. */
export const target = {
  swapDev: process.env[ENV.swapDev] ?? '/dev/zram0',
  scratch: process.env[ENV.scratch] ?? '/mnt/scratch',
  /** why there is no swap, when there is none */
  noSwap: process.env[ENV.noSwap],
  /** a machine the harness did not boot: its own zram device, every knob put back (stage()) */
  staged: undefined as { zram?: Zram; knobs: Knobs } | undefined,
};

let nativeShim: Native | undefined;
const shim = () => (nativeShim ??= loadNative(SHIM));
const subjects = new Map<number, Subject>();
let zygoteProcess: Promise<Subject> | undefined;
let zygotePid: number | undefined;
const zygote = () => (zygoteProcess ??= Subject.spawn(SUBJECT).then((z) => ((zygotePid = z.pid), z)));
const zygoteChildren = new Set<number>();
let spare: Promise<Subject> | undefined;

async function forkFromZygote(): Promise<Subject> {
  const z = await zygote();
  await z.send('reapall');
  const s = await z.fork();
  zygoteChildren.add(s.pid);
  return s;
}
const workers = new Map<string, { child: ChildProcess; channel: JsonLineChannel; seq: number }>();

function subject(pid: unknown): Subject {
  const s = subjects.get(Number(pid));
  if (!s) throw Object.assign(new Error(`no subject with pid ${String(pid)}`), { code: 'ESRCH' });
  return s;
}

/** One write(2) of the exact bytes; the kernel's return value or its errno. */
function writeOnce(path: string, data: Buffer): number {
  const fd = openSync(path, fsc.O_WRONLY);
  try {
    return writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

const bytesOf = (r: Args<'write'>) => (r.base64 !== undefined ? Buffer.from(String(r.base64), 'base64') : Buffer.from(String(r.text), 'latin1'));

export function features(): Features {
  const has = (p: string) => existsSync(p);
  const text = (p: string) => (has(p) ? readFileSync(p, 'utf8').trim() : undefined);
  const meminfo = Object.fromEntries((text('/proc/meminfo') ?? '').split('\n').map((l) => [l.split(':')[0], parseInt(l.split(':')[1] ?? '', 10)]));
  const s = shim();
  const probe = (fn: () => void) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code ?? 'error';
    }
  };
  const self = s.pidfdOpen(process.pid);
  // PMADV_FLAG_RANGE with MADV_COLD on the agent itself: harmless, and EINVAL where the flag is unknown.
  const range = probe(() => s.processMadvise(self, null, s.constants.MADV_COLD, s.constants.PMADV_FLAG_RANGE));
  s.close(self);
  return {
    kernel: { release: release(), version: version(), arch: process.arch, procVersion: text('/proc/version')?.trim() },
    node: process.version,
    cpus: cpus().length,
    pageSize: s.pageSize,
    interfaces: {
      procReclaim: has('/proc/self/reclaim'),
      shrinkmem: has('/dev/shrinkmem'),
      pmadvRange: range === 'ok',
      processMrelease: probe(() => s.processMrelease(-1, 0)) === 'EBADF',
    },
    swap: { totalKb: meminfo.SwapTotal ?? 0, none: target.noSwap, device: target.swapDev.replace(/^\/dev\//, ''), devices: (text('/proc/swaps') ?? '').split('\n').slice(1).map((l) => l.split(/\s+/)[0]) },
    scratch: target.scratch,
    thp: text('/sys/kernel/mm/transparent_hugepage/enabled')?.match(/\[(\w+)\]/)?.[1] ?? 'unsupported',
    hugepages: { sizeKb: meminfo.Hugepagesize ?? 0, total: meminfo.HugePages_Total ?? 0 },
    // anonymous multi-size THP: a hugepages-<size>kB directory with an 'enabled' knob per anon folio size
    mthp: has(THP_DIR) ? readdirSync(THP_DIR).filter((d) => has(`${THP_DIR}/${d}/enabled`)).flatMap((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1] ?? []).map(Number).sort((a, b) => a - b) : [],
    kpage: has('/proc/kpagecount') && has('/proc/kpageflags'),
    ksm: has('/sys/kernel/mm/ksm/run'),
    ksmSharing: Number(text('/sys/kernel/mm/ksm/pages_sharing') ?? 0),
    memTotalKb: meminfo.MemTotal,
    kconfig: kconfig(),
    /** where the start-up went, in seconds: the machine's uptime and Node's own now, the uptime when the init had set up swap and scratch */
    uptime: { system: Number((text('/proc/uptime') ?? '0').split(' ')[0]), node: +process.uptime().toFixed(3), ...(process.env[ENV.staged] ? { staged: Number(text(process.env[ENV.staged]!)) } : {}) },
  };
}

const THP_DIR = '/sys/kernel/mm/transparent_hugepage';

/** The running kernel's own config, where it has one to read: only the patched interfaces' lines. */
function kconfig(): { source: string; lines: string[] } | undefined {
  const boot = `/boot/config-${release()}`;
  if (existsSync('/proc/config.gz')) {
    // zlib only where there is something to inflate: a module less at every start-up elsewhere
    const { gunzipSync } = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
    return { source: '/proc/config.gz', lines: configLines(gunzipSync(readFileSync('/proc/config.gz')).toString()) };
  }
  if (existsSync(boot)) return { source: boot, lines: configLines(readFileSync(boot, 'utf8')) };
  return undefined;
}

async function asUser(r: Args<'as_user'>): Promise<unknown> {
  const uid = Number(r.uid);
  const gid = Number(r.gid ?? r.uid);
  const key = `${uid}:${gid}`;
  let w = workers.get(key);
  if (!w) {
    const child = spawn(NODE, [...process.execArgv, process.argv[1]!, '--worker'], { uid, gid, stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    // Node takes seconds to start under TCG: keep it off the agent's CPU.
    const others = Array.from({ length: cpus().length }, (_v, k) => k).slice(1);
    if (others.length && child.pid) shim().schedSetaffinity(child.pid, others);
    w = { child, channel: new JsonLineChannel(child.stdout!, child.stdin!, `worker ${key}`), seq: 0 };
    workers.set(key, w);
  }
  const reply = (await w.channel.request(JSON.stringify({ ...(r.req as object), id: ++w.seq }))) as { ok: boolean; result?: unknown; error?: unknown };
  if (!reply.ok) throw Object.assign(new Error(String((reply.error as { message?: string }).message)), reply.error as object);
  return reply.result;
}

const STATUS_KEYS = ['VmSize', 'RssAnon', 'RssFile', 'RssShmem', 'VmSwap'];

/**
 * Everything the comparator needs about one process in one round trip: pagemap
 * entries of each range, and optionally the smaps fields of each range's VMA,
 * status, and kpagecount/kpageflags of every present page. A process without
 * an mm answers { gone: errno }.
 */
function observe(r: Args<'observe'>): ObserveReply {
  const pid = Number(r.pid);
  const page = shim().pageSize;
  let pagemap: Buffer[];
  try {
    pagemap = (r.ranges as string[][]).map(([a, n]) => readRaw(`/proc/${pid}/pagemap`, Number(BigInt(a!) / BigInt(page)), Number(n)));
  } catch (e) {
    return { gone: (e as { code?: string }).code ?? 'EIO' };
  }
  // Raw little-endian entries, base64: no per-page work here or in the reply.
  const out: ObserveReply = { pagemap: pagemap.map((b) => b.toString('base64')) };
  const text = (f: string) => {
    try {
      return readFileSync(`/proc/${pid}/${f}`, 'latin1');
    } catch {
      return undefined;
    }
  };
  if (r.smaps) {
    // Only the smaps fields of VMAs that are exactly a requested range: a small reply.
    out.smaps = smapsFieldsOf(text('smaps') ?? '', (r.ranges as string[][]).map(([a, n]) => [BigInt(a!), BigInt(a!) + BigInt(n!) * BigInt(page)] as const));
  }
  if (r.kpage) {
    // One entry per page of the ranges, in order; 0 where the page shows no PFN (the host reads
    // the pagemap entry to tell).
    const pfns = pagemap.flatMap(pfnsOf);
    const present = pfns.filter((p) => p !== 0);
    const at = (file: string) => {
      const vals = readRawAt(file, present);
      const all = Buffer.alloc(pfns.length * 8);
      let k = 0;
      pfns.forEach((p, i) => p !== 0 && vals.copy(all, i * 8, 8 * k, 8 * ++k));
      return all.toString('base64');
    };
    out.kpagecount = at('/proc/kpagecount');
    out.kpageflags = at('/proc/kpageflags');
  }
  // Last: a dying process's VmSize still here means its mm was whole for all of the above.
  if (r.status) {
    out.status = pickKeyValues(text('status') ?? '', STATUS_KEYS);
  }
  return out;
}

/**
 * Waits until pid is in one of states (/proc/PID/stat letters; '-' for no
 * such process): its state and how long that took, or ETIMEDOUT.
 */
async function awaitState(r: { pid: number; states?: string; timeoutMs?: number }): Promise<{ state: string; ms: number }> {
  const pid = Number(r.pid);
  const want = String(r.states);
  const t0 = Date.now();
  // Waiting for an exit: block on its pidfd, which leaves the CPU the process shares with the
  // agent to its exit (a 1 ms poll loop took part of it).
  if (/^[ZX-]+$/.test(want) && want.includes('Z')) waitExit(pid, Number(r.timeoutMs ?? 5000));
  for (;;) {
    const state = procState(pid);
    if (want.includes(state)) return { state, ms: Date.now() - t0 };
    if (Date.now() - t0 > Number(r.timeoutMs ?? 5000)) throw Object.assign(new Error(`pid ${pid} is in state ${state}, not one of ${want}, after ${Date.now() - t0} ms`), { code: 'ETIMEDOUT' });
    await new Promise((res) => setTimeout(res, 1));
  }
}

/** Blocks until pid has exited (or is gone) or ms passed, on a pidfd. */
function waitExit(pid: number, ms: number): void {
  let fd: number;
  try {
    fd = shim().pidfdOpen(pid);
  } catch {
    return; // gone already (ESRCH), or no pidfd here: the state loop decides
  }
  try {
    for (const until = Date.now() + ms; Date.now() < until; ) {
      try {
        if (shim().poll(fd, shim().constants.POLLIN, until - Date.now())) return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EINTR') return;
      }
    }
  } finally {
    shim().close(fd);
  }
}

/** The state letter of /proc/PID/stat (after the last ')'), or '-' when there is no such process. */
function procState(pid: number): string {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return t.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3);
  } catch {
    return '-';
  }
}

export const ops: Handlers = {
  features,
  ping: () => ({ pong: true }),
  /**
   * A new subject; with cpus, pinned there; with pidfd, also a pidfd to it.
   * Root subjects are forked from a zygote subject: forking the small static
   * subject costs a fraction of forking Node under TCG.
   */
  spawn: async (r) => {
    let s: Subject;
    if (r.uid === undefined) {
      s = await (spare ?? forkFromZygote());
      // The next one forks while the host works on this reply.
      spare = forkFromZygote();
      spare.catch(() => (spare = undefined));
    } else s = await Subject.spawn(SUBJECT, { uid: Number(r.uid), gid: Number(r.gid ?? r.uid) });
    subjects.set(s.pid, s);
    if (r.cpus) shim().schedSetaffinity(s.pid, r.cpus as number[]);
    return { pid: s.pid, pidfd: r.pidfd ? shim().pidfdOpen(s.pid, 0) : undefined };
  },
  /** Several requests in order, one reply: a result or an error each. */
  batch: async (r) => {
    const results: BatchReply[] = [];
    for (const q of r.reqs) {
      try {
        results.push({ ok: true, result: await handle(q) });
      } catch (e) {
        results.push({ ok: false, error: errorOf(e) });
      }
    }
    return { results };
  },
  subject: (r) => subject(r.pid).send(String(r.line)),
  fork: async (r) => {
    const c = await subject(r.pid).fork();
    subjects.set(c.pid, c);
    return { pid: c.pid };
  },
  /** Resolves once a spawned subject has exited and been reaped. */
  reap: async (r) => {
    const pid = Number(r.pid);
    const child = subjects.get(pid)?.child;
    if (child && child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    if (zygoteChildren.delete(pid)) {
      const w = await (await zygote()).send(`wait ${pid}`);
      if (!w.ok && w.error !== 'ECHILD') throw Object.assign(new Error(`wait ${pid}: ${String(w.msg)}`), { code: w.error });
    }
    subjects.delete(pid);
    return {};
  },
  /** A file from the host (e.g. a reproducer binary). */
  put: (r) => {
    writeFileSync(String(r.path), Buffer.from(String(r.base64), 'base64'));
    chmodSync(String(r.path), Number(r.mode ?? 0o644));
    return {};
  },
  /** Runs a program to completion: its exit status and output. */
  exec: (r) => {
    const [cmd, ...args] = r.argv as string[];
    const p = spawnSync(cmd!, args, { encoding: 'latin1', timeout: Number(r.timeoutMs ?? 30_000) });
    if (p.error) throw p.error;
    return { status: p.status, signal: p.signal, stdout: p.stdout, stderr: p.stderr };
  },
  /** mount -t TYPE -o OPTIONS SOURCE TARGET (e.g. a second procfs with hidepid=). */
  mount: (r) => {
    mkdirSync(String(r.target), { recursive: true });
    execFileSync('mount', ['-t', String(r.fstype), '-o', String(r.options), String(r.source), String(r.target)], { stdio: ['ignore', 'ignore', 'pipe'] });
    return {};
  },
  forget: (r) => (subjects.get(Number(r.pid))?.close(), subjects.delete(Number(r.pid)), {}),
  /** kill(2); with states, then waits as await_state does (only for a process the signal reached). */
  kill: (r) => {
    process.kill(Number(r.pid), String(r.signal ?? 'SIGKILL') as NodeJS.Signals);
    return r.states === undefined ? {} : awaitState(r);
  },
  await_state: (r) => awaitState(r),
  read: (r) => ({ text: readFileSync(String(r.path), 'latin1') }),
  /** pread(2) of length bytes at offset (e.g. /proc/PID/mem at a user address) */
  pread: (r) => {
    const fd = openSync(String(r.path), fsc.O_RDONLY);
    try {
      const b = Buffer.alloc(Number(r.length));
      return { base64: b.subarray(0, readSync(fd, b, 0, b.length, BigInt(String(r.offset)))).toString('base64') };
    } finally {
      closeSync(fd);
    }
  },
  stat: (r) => {
    const st = statSync(String(r.path));
    return { mode: st.mode, uid: st.uid, gid: st.gid };
  },
  write: (r) => (target.staged?.knobs.note('write', r), { ret: writeOnce(String(r.path), bytesOf(r)) }),
  pidfd_open: (r) => ({ fd: shim().pidfdOpen(Number(r.pid), Number(r.flags ?? 0)) }),
  close: (r) => (shim().close(Number(r.fd)), {}),
  pidfd_send_signal: (r) => (shim().pidfdSendSignal(Number(r.fd), Number(r.sig), Number(r.flags ?? 0)), {}),
  /** iovecs as [addr, len] strings, or null; or ptr, an iovec pointer as it is. vlen: the count passed, when given. */
  process_madvise: (r) => {
    const vec = r.ptr !== undefined ? BigInt(String(r.ptr)) : r.iovecs == null ? null : (r.iovecs as string[][]).map(([a, l]) => ({ addr: BigInt(a!), len: BigInt(l!) }));
    return { ret: String(shim().processMadvise(Number(r.fd), vec, Number(r.advice), Number(r.flags ?? 0), r.vlen === undefined ? undefined : BigInt(String(r.vlen)))) };
  },
  process_mrelease: (r) => (shim().processMrelease(Number(r.fd), Number(r.flags ?? 0)), {}),
  sched_setaffinity: (r) => (shim().schedSetaffinity(Number(r.pid), r.cpus as number[]), {}),
  /** SCHED_FIFO (or back to SCHED_OTHER) for pid, 0 being the agent; children start as SCHED_OTHER. */
  sched_fifo: (r) => {
    const c = shim().constants;
    shim().schedSetscheduler(Number(r.pid ?? 0), (r.on ? c.SCHED_FIFO : c.SCHED_OTHER) | c.SCHED_RESET_ON_FORK, r.on ? 1 : 0);
    return {};
  },
  pagemap: (r) => ({ entries: readEntries(`/proc/${Number(r.pid)}/pagemap`, BigInt(String(r.addr)) / BigInt(shim().pageSize), Number(r.pages)).map((e) => e.toString(16)) }),
  kpage: (r) => {
    const one = (file: string, pfn: string) => readEntries(file, BigInt(pfn), 1)[0]!.toString(16);
    const pfns = r.pfns as string[];
    return { count: pfns.map((p) => one('/proc/kpagecount', p)), flags: pfns.map((p) => one('/proc/kpageflags', p)) };
  },
  observe,
  /**
   * Lets ksmd run flat out until it has completed three full scans (enough to
   * merge identical pages: one to checksum, one to merge, one spare), then stops it.
   */
  ksm_merge: async () => {
    target.staged?.knobs.note('ksm_merge', {});
    const k = '/sys/kernel/mm/ksm/';
    const rd = (f: string) => Number(readFileSync(k + f, 'utf8'));
    const wr = (f: string, v: string) => writeOnce(k + f, Buffer.from(v));
    wr('pages_to_scan', '10000');
    wr('sleep_millisecs', '0');
    const start = rd('full_scans');
    const t0 = Date.now();
    wr('run', '1');
    try {
      while (rd('full_scans') < start + 3) {
        if (Date.now() - t0 > 30_000) throw Object.assign(new Error('ksmd did not finish 3 full scans in 30 s'), { code: 'ETIMEDOUT' });
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      wr('run', '0'); // stop scanning; merged pages stay merged
    }
    return { ms: Date.now() - t0, pagesShared: rd('pages_shared'), pagesSharing: rd('pages_sharing') };
  },
  /** swapoff, or swapon, the zram device the init (or the host, for --target local) set up. */
  swap: (r) => {
    // the only swap area: stage() refuses a machine that swaps elsewhere
    execFileSync(r.on ? 'swapon' : 'swapoff', [target.swapDev], { stdio: ['ignore', 'ignore', 'pipe'] });
    return {};
  },
  as_user: asUser,
  poweroff: () => {
    setImmediate(exitNow);
    return {};
  },
};

/** Runs one request: its result, or an Error with code ENOSYS for an op the table lacks. */
export function handle(r: AgentRequest): unknown {
  if (!Object.hasOwn(ops, r.op)) throw Object.assign(new Error(`unknown op '${r.op}'`), { code: 'ENOSYS' });
  // the table pairs each op with its handler; r is that op's request
  return (ops[r.op] as (a: AgentRequest) => unknown)(r);
}

/**
 * Ends the agent at once. process.exit() would join libuv's thread pool, where
 * a read() of the virtio port blocks for good, so the guest never powered off.
 */
export function exitNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

export function errorOf(e: unknown) {
  const x = e as { code?: string; errno?: number; syscall?: string; message?: string };
  return { code: x.code ?? 'EAGENT', errno: typeof x.errno === 'number' ? Math.abs(x.errno) : 0, syscall: x.syscall, message: x.message ?? String(e) };
}

/** Requests from input, one JSON line each, answered through send; onEnd when input ends. */
export function serve(input: Readable, send: (line: string) => void, onEnd: () => void): void {
  const lines = lineReader();
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    for (const line of lines(chunk)) {
      if (!line.trim()) continue;
      let req: AgentRequest & { id: number };
      try {
        req = JSON.parse(line);
      } catch {
        send(JSON.stringify({ id: null, ok: false, error: { code: 'EPROTO', errno: 0, message: `bad request: ${line.slice(0, 100)}` } }));
        continue;
      }
      Promise.resolve()
        .then(() => handle(req))
        .then(
          (result) => send(JSON.stringify({ id: req.id, ok: true, result })),
          (e) => send(JSON.stringify({ id: req.id, ok: false, error: errorOf(e) })),
        );
    }
  });
  input.on('end', onEnd);
}

/**
 * Makes this machine ready for the suite when the harness did not boot it: root, no other
 * swap, a scratch directory on a disk file system, and (swap in MiB) a zram device of its own.
 * Throws an Error with code ETARGET that says why not.
 */
export function stage(o: { swap: number | 'none'; scratch: string }): void {
  const problem = stageProblem() ?? scratchProblem(o.scratch);
  if (problem) throw Object.assign(new Error(problem), { code: 'ETARGET' });
  target.scratch = o.scratch;
  const knobs = new Knobs();
  // --swap none leaves target.noSwap unset: the suite's own reason (run with --swap SIZE) applies
  const noSwap = o.swap === 'none' ? undefined : zramProblem();
  if (noSwap) target.noSwap = noSwap;
  const zram = o.swap !== 'none' && !noSwap ? setUpZram(o.swap) : undefined;
  if (zram) target.swapDev = `/dev/${zram.dev}`;
  target.staged = { zram, knobs };
}

/** Ends every subject and worker, puts the knobs back and removes the zram device; says on stderr what would not go back. */
export function unstage(who: string): void {
  for (const pid of [...subjects.keys(), ...zygoteChildren, ...(zygotePid ? [zygotePid] : [])]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const w of workers.values()) w.child.kill('SIGKILL');
  const s = target.staged;
  if (!s) return;
  target.staged = undefined;
  const failed = s.knobs.restore();
  if (s.zram) releaseZram(s.zram);
  if (failed.length) process.stderr.write(`${who}: could not put back ${failed.join(', ')}\n`);
}
