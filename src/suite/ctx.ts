// The scenario toolkit: subjects, procfs writes, syscalls and observations in the guest.
import { decodePagemap, type PagemapEntry } from '../protocol/pagemap.js';
import { delta, parseKeyValues, parseSmaps, parseVmstat, type SmapsVma } from '../protocol/procfs.js';
import { SubjectClient } from '../protocol/subject.js';
import { agentRequest, type AgentRequest, type Args, type Features as AgentFeatures, type Op, type Result } from '../protocol/ops.js';
import { GuestError, type Channel } from '../protocol/channel.js';
import { CleanupError, Mismatch, PreconditionError } from './failures.js';

/** What the suite reads of the agent's features (protocol/ops.ts): as much as a test's fake agent gives. */
export type Features = Pick<AgentFeatures, 'pageSize' | 'cpus' | 'interfaces' | 'thp' | 'hugepages' | 'kernel'> &
  Partial<Pick<AgentFeatures, 'mthp' | 'ksm' | 'ksmSharing' | 'scratch' | 'kconfig'>> & { swap: Pick<AgentFeatures['swap'], 'totalKb'> & Partial<AgentFeatures['swap']> };


export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

export class Ctx {
  readonly page: number;
  /** agent requests that undo the scenario, sent as one batch at the end */
  private cleanup: AgentRequest[] = [];

  constructor(readonly guest: Channel, readonly features: Features, readonly swapOn = features.swap.totalKb > 0, readonly scratch = features.scratch ?? '/mnt/scratch') {
    this.page = features.pageSize;
  }

  /** A subject in the guest, pinned to CPU 0 like the agent (spec §7.1), with a pidfd; killed after the scenario. */
  async spawn(uid?: number): Promise<SubjectClient & { pidfd: number }> {
    const { pid, pidfd } = await this.guest.request('spawn', { ...(uid === undefined ? {} : { uid }), cpus: [0], pidfd: true });
    if (pidfd === undefined) throw new Error(`spawn: the agent sent no pidfd for pid ${pid}`);
    this.cleanup.push({ op: 'kill', pid }, { op: 'close', fd: pidfd });
    return Object.assign(this.client(pid), { pidfd });
  }

  async fork(parent: SubjectClient): Promise<SubjectClient> {
    const { pid } = await this.guest.request('fork', { pid: parent.pid });
    this.cleanup.push({ op: 'kill', pid });
    return this.client(pid);
  }

  private client(pid: number): SubjectClient {
    return new SubjectClient(pid, (line) => this.guest.request('subject', { pid, line }));
  }

  /** Runs op; a GuestError becomes { ok: false, code }. */
  async attempt<T>(op: () => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await op() };
    } catch (e) {
      if (e instanceof GuestError && e.code !== 'ETIMEDOUT' && e.code !== 'ECRASH' && e.code !== 'EGUESTEXIT') return { ok: false, code: e.code };
      throw e;
    }
  }

  /** One write(2) of text to path: the byte count, or the errno name. */
  write(path: string, text: string): Promise<Outcome<number>> {
    return this.attempt(async () => (await this.guest.request('write', { path, text })).ret);
  }

  async read(path: string): Promise<string> {
    return (await this.guest.request('read', { path })).text;
  }

  /** Sets a sysfs knob shown as "a [b] c" to value; the old choice is put back after the scenario. */
  async setKnob(path: string, value: string): Promise<void> {
    const old = /\[(\w+)\]/.exec(await this.read(path))?.[1];
    if (!old) throw new Error(`${path}: no [current] choice`);
    this.cleanup.unshift({ op: 'write', path, text: old });
    await this.guest.request('write', { path, text: value });
  }

  reclaim(pid: number, text: string): Promise<Outcome<number>> {
    return this.write(`/proc/${pid}/reclaim`, text);
  }

  async pidfd(pid: number): Promise<number> {
    const { fd } = await this.guest.request('pidfd_open', { pid });
    this.cleanup.push({ op: 'close', fd });
    return fd;
  }

  /** vec: iovecs, null, or a bigint sent as the iovec pointer itself; vlen, when given, is the count passed. */
  processMadvise(fd: number, vec: Array<[bigint, number | bigint]> | null | bigint, advice: number, flags = 0, vlen?: bigint): Promise<Outcome<bigint>> {
    return this.attempt(async () => {
      const args = typeof vec === 'bigint' ? { ptr: vec.toString() } : { iovecs: vec && vec.map(([a, len]) => [a.toString(), String(len)]) };
      return BigInt((await this.guest.request('process_madvise', { fd, ...args, advice, flags, ...(vlen === undefined ? {} : { vlen: vlen.toString() }) })).ret);
    });
  }

  processMrelease(fd: number, flags = 0): Promise<Outcome<void>> {
    return this.attempt(async () => void (await this.guest.request('process_mrelease', { fd, flags })));
  }

  async signal(fd: number, sig: number): Promise<void> {
    await this.guest.request('pidfd_send_signal', { fd, sig });
  }

  async pagemap(pid: number, addr: bigint, pages: number): Promise<PagemapEntry[]> {
    const { entries } = await this.guest.request('pagemap', { pid, addr: addr.toString(), pages });
    return entries.map((h) => decodePagemap(BigInt(`0x${h}`)));
  }

  /** The smaps entry of the VMA that contains addr. */
  async smapsAt(pid: number, addr: bigint): Promise<SmapsVma | undefined> {
    return parseSmaps(await this.read(`/proc/${pid}/smaps`)).find((v) => v.start <= addr && addr < v.end);
  }

  async status(pid: number): Promise<Record<string, number>> {
    return parseKeyValues(await this.read(`/proc/${pid}/status`));
  }

  /** meminfo and vmstat now (node counters made exact with stat_refresh). */
  async globals(): Promise<{ meminfo: Record<string, number>; vmstat: Record<string, number> }> {
    await this.write('/proc/sys/vm/stat_refresh', '1');
    return { meminfo: parseKeyValues(await this.read('/proc/meminfo')), vmstat: parseVmstat(await this.read('/proc/vmstat')) };
  }

  /** How meminfo and vmstat changed since `before`. */
  async globalsDelta(before: Awaited<ReturnType<Ctx['globals']>>) {
    const now = await this.globals();
    return { meminfo: delta(before.meminfo, now.meminfo), vmstat: delta(before.vmstat, now.vmstat) };
  }

  /** One agent operation performed by a worker running as uid (and gid) `uid`. */
  asUser<K extends Op>(uid: number, op: K, args: Args<K>): Promise<Outcome<Result<K>>> {
    // the worker ran op: its reply is op's (protocol/ops.ts)
    return this.attempt(async () => (await this.guest.request('as_user', { uid, req: agentRequest(op, args) })) as Result<K>);
  }

  /** Fails the scenario with message unless cond holds. */
  expect(cond: boolean, message: string): void {
    if (!cond) throw new Mismatch(message);
  }

  expectOutcome<T>(got: Outcome<T>, want: 'ok' | string, what: string): void {
    const g = got.ok ? 'ok' : got.code;
    this.expect(g === want, `${what}: expected ${want}, got ${g}`);
  }

  /**
   * Waits for pid to reach one of states ('Z' zombie, 'X' dead, '-' gone), as
   * /proc/PID/stat shows it: the precondition of the step that needs it. Not
   * reaching it is the harness's problem, an ERROR, never a verdict.
   */
  async awaitState(pid: number, states: string, timeoutMs = 5000): Promise<string> {
    try {
      return (await this.guest.request('await_state', { pid, states, timeoutMs })).state;
    } catch (e) {
      if (e instanceof GuestError && e.code === 'ETIMEDOUT' && this.guest.alive) throw new PreconditionError(`precondition not reached: ${e.message}`);
      throw e;
    }
  }

  /**
   * Kills what the scenario made and waits until each killed process has
   * released its memory (zombie or gone), so its exit cannot move the next
   * scenario's system-wide counters.
   */
  async finish(): Promise<void> {
    // Each kill waits for its process in the agent, one round trip in all; only what the kill
    // reached: a pid that was already gone may belong to another process by now.
    const reqs = this.cleanup.splice(0).reverse().map((q) => (q.op === 'kill' ? { ...q, states: 'ZX-', timeoutMs: 5000 } : q));
    if (!reqs.length) return;
    const stuck = (await this.guest.batch(reqs)).find((r) => r instanceof GuestError && r.code === 'ETIMEDOUT');
    if (stuck) throw new CleanupError(`cleanup: ${(stuck as GuestError).message}`);
  }
}

/** How many entries satisfy pred, for messages like "12/64 swapped". */
export const count = (es: PagemapEntry[], pred: (e: PagemapEntry) => boolean) => es.filter(pred).length;
