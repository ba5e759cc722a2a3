// The subject's line protocol (native/subject.c): its commands, replies and mapping kinds, over any transport.
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
