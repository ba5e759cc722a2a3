// Client for native/subject.c: the workload process whose memory is reclaimed.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLineChannel } from './lines.js';

export type MapKind = 'anon-private' | 'anon-shared' | 'file-private' | 'file-shared' | 'memfd' | 'hugetlb';
export type Advice = 'free' | 'cold' | 'pageout' | 'dontneed' | 'willneed' | 'hugepage' | 'nohugepage' | 'mergeable' | 'unmergeable';

export interface MapOptions {
  path?: string;
  locked?: boolean;
  thp?: boolean;
  /** For file kinds: map the file as it is instead of recreating it. */
  keep?: boolean;
  /** start aligned to this many bytes (a power of two), e.g. an mTHP folio size */
  align?: number;
}

export interface Mapping {
  id: number;
  kind: MapKind;
  addr: bigint;
  pages: number;
  bytes: number;
  locked: boolean;
  thp: boolean | null;
  path?: string;
}

export interface BadPage {
  map: number;
  page: number;
  addr: bigint;
  expect: string;
  found: string;
}

export interface VerifyResult {
  checked: number;
  badCount: number;
  bad: BadPage[];
}

/** A command the subject refused; code is an errno name or EUSAGE. */
export class SubjectError extends Error {
  constructor(readonly command: string, readonly code: string, readonly errno: number, msg: string) {
    super(`subject '${command}': ${code}: ${msg}`);
  }
}

export type Reply = Record<string, unknown> & { ok: boolean };
type Range = { first?: number; count?: number };

const rangeArgs = (r: Range = {}) =>
  r.first === undefined ? '' : r.count === undefined ? ` ${r.first}` : ` ${r.first} ${r.count}`;

function toMapping(m: Record<string, unknown>): Mapping {
  return { ...(m as unknown as Mapping), addr: BigInt(m.addr as string) };
}

/**
 * The unix socket forked subjects connect to, one per process: a child greets
 * with {"hello": pid} and is matched to the fork that made it.
 */
class ForkListener {
  private static instance: Promise<ForkListener> | undefined;
  private waiting = new Map<number, (c: { channel: JsonLineChannel; sock: Socket }) => void>();
  private early = new Map<number, { channel: JsonLineChannel; sock: Socket }>();

  private constructor(readonly path: string) {}

  static shared(): Promise<ForkListener> {
    return (ForkListener.instance ??= ForkListener.listen(join(tmpdir(), `reclaim-subject-${process.pid}.sock`)));
  }

  private static async listen(path: string): Promise<ForkListener> {
    rmSync(path, { force: true });
    const l = new ForkListener(path);
    const server = createServer((sock) => l.greet(sock));
    await new Promise<void>((resolve, reject) => server.listen(path, resolve).once('error', reject));
    chmodSync(path, 0o777); // a subject running as another uid must connect too
    server.unref();
    process.once('exit', () => rmSync(path, { force: true }));
    return l;
  }

  private async greet(sock: Socket): Promise<void> {
    const channel = new JsonLineChannel(sock, sock, 'forked subject');
    const hello = (await channel.next().catch(() => undefined)) as Reply | undefined;
    const pid = Number(hello?.hello);
    if (!pid) return void sock.destroy();
    const w = this.waiting.get(pid);
    if (w) {
      this.waiting.delete(pid);
      w({ channel, sock });
    } else this.early.set(pid, { channel, sock });
  }

  accept(pid: number): Promise<{ channel: JsonLineChannel; sock: Socket }> {
    const c = this.early.get(pid);
    if (c) {
      this.early.delete(pid);
      return Promise.resolve(c);
    }
    return new Promise((resolve) => this.waiting.set(pid, resolve));
  }
}

/** Command lines of the subject protocol, for callers that batch them. */
export const subjectLine = {
  unmap: (id: number, r?: Range) => `unmap ${id}${rangeArgs(r)}`,
  touch: (id: number, how: 'read' | 'write' | 'zero', r?: Range) => `touch ${id} ${how}${rangeArgs(r)}`,
  mlock: (id: number, r?: Range) => `mlock ${id}${rangeArgs(r)}`,
  munlock: (id: number, r?: Range) => `munlock ${id}${rangeArgs(r)}`,
  madvise: (id: number, advice: Advice, r?: Range) => `madvise ${id} ${advice}${rangeArgs(r)}`,
  verify: (id?: number) => (id === undefined ? 'verify' : `verify ${id}`),
  wait: (pid: number) => `wait ${pid}`,
};

/** The subject's command set over any transport that carries one line and its reply. */
export class SubjectClient {
  constructor(
    readonly pid: number,
    /** one raw command line; the reply as the subject sent it, refusals included */
    readonly send: (line: string) => Promise<Reply>,
  ) {}

  protected async cmd(line: string): Promise<Reply> {
    const r = await this.send(line);
    if (!r.ok) throw new SubjectError(line, String(r.error), Number(r.errno), String(r.msg));
    return r;
  }

  async map(kind: MapKind, pages: number, o: MapOptions = {}): Promise<Mapping> {
    const words = ['map', kind, String(pages)];
    if (o.path !== undefined) words.push(o.path);
    if (o.locked) words.push('locked');
    if (o.thp !== undefined) words.push(o.thp ? 'thp' : 'nothp');
    if (o.keep) words.push('keep');
    if (o.align) words.push(`align=${o.align}`);
    return toMapping((await this.cmd(words.join(' '))).map as Record<string, unknown>);
  }

  async unmap(id: number, r?: Range): Promise<void> {
    await this.cmd(subjectLine.unmap(id, r));
  }

  async touch(id: number, how: 'read' | 'write' | 'zero', r?: Range): Promise<number> {
    return (await this.cmd(subjectLine.touch(id, how, r))).pages as number;
  }

  async mlock(id: number, r?: Range): Promise<void> {
    await this.cmd(subjectLine.mlock(id, r));
  }

  async munlock(id: number, r?: Range): Promise<void> {
    await this.cmd(subjectLine.munlock(id, r));
  }

  async madvise(id: number, advice: Advice, r?: Range): Promise<void> {
    await this.cmd(subjectLine.madvise(id, advice, r));
  }

  async msync(id: number, how: 'sync' | 'async' | 'invalidate' = 'sync'): Promise<void> {
    await this.cmd(`msync ${id} ${how}`);
  }

  async verify(id?: number): Promise<VerifyResult> {
    const r = await this.cmd(subjectLine.verify(id));
    const bad = (r.bad as Array<Record<string, unknown>>).map((b) => ({ ...(b as unknown as BadPage), addr: BigInt(b.addr as string) }));
    return { checked: r.checked as number, badCount: r.badCount as number, bad };
  }

  async info(): Promise<{ pid: number; ppid: number; pageSize: number; maps: Mapping[] }> {
    const r = await this.cmd('info');
    return { pid: r.pid as number, ppid: r.ppid as number, pageSize: r.pageSize as number, maps: (r.maps as Array<Record<string, unknown>>).map(toMapping) };
  }

  /** An fd to path, opened by the subject with its current credentials. */
  async open(path: string, mode: 'rdonly' | 'wronly'): Promise<number> {
    return (await this.cmd(`open ${path} ${mode}`)).fd as number;
  }

  /**
   * One write(2) of data to fd: the kernel's count; a refusal throws
   * SubjectError with the errno. 'fault' writes from an unmapped address.
   */
  async write(fd: number, data: Buffer | 'fault'): Promise<number> {
    return (await this.cmd(`write ${fd} ${data === 'fault' ? 'fault' : data.toString('hex')}`)).ret as number;
  }

  async closeFd(fd: number): Promise<void> {
    await this.cmd(`close ${fd}`);
  }

  /** Drops to uid (and gid uid, no supplementary groups) for good. */
  async setuid(uid: number): Promise<void> {
    await this.cmd(`setuid ${uid}`);
  }

  /** Reaps a forked child of this subject. */
  async wait(pid: number): Promise<{ exit?: number; signal?: number }> {
    const r = await this.cmd(subjectLine.wait(pid));
    return { exit: r.exit as number | undefined, signal: r.signal as number | undefined };
  }

  async exit(code = 0): Promise<void> {
    await this.cmd(`exit ${code}`);
  }
}

/** A subject process of this machine, on stdin/stdout or a forked child's socket. */
export class Subject extends SubjectClient {
  private constructor(
    pid: number,
    channel: JsonLineChannel,
    private readonly onClose: () => void,
    readonly child?: ChildProcess,
  ) {
    super(pid, (line) => channel.request(line) as Promise<Reply>);
  }

  /** Starts `binary args…` as a subject; `spawnOptions` can set uid/gid. */
  static async spawn(binary: string, spawnOptions: SpawnOptions = {}, args: readonly string[] = []): Promise<Subject> {
    const child = spawn(binary, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const channel = new JsonLineChannel(child.stdout!, child.stdin!, `subject ${child.pid}`);
    return new Subject(child.pid!, channel, () => child.stdin!.end(), child);
  }

  /** Forks; the child keeps every mapping and answers on a channel of its own. */
  async fork(): Promise<Subject> {
    const listener = await ForkListener.shared();
    const reply = await this.cmd(`fork ${listener.path}`);
    const pid = reply.child as number;
    const { channel, sock } = await listener.accept(pid);
    return new Subject(pid, channel, () => sock.end());
  }

  /** Asks the subject to exit; for a spawned subject, resolves once it is reaped. */
  async exit(code = 0): Promise<void> {
    const exited = this.child && this.child.exitCode === null ? new Promise((r) => this.child!.once('exit', r)) : undefined;
    await this.cmd(`exit ${code}`);
    this.onClose();
    await exited;
  }

  /** Closes the channel; a subject whose input closes exits. */
  close(): void {
    this.onClose();
  }
}
