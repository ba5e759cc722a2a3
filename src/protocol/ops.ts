// The agent's operations, each with its arguments and its reply: one table that types both the
// agent's handlers (agent/ops.ts) and every request (Channel.request). A request travels as
// {"id":N,"op":K,...args}; its reply as {"id":N,"ok":true,"result":…} or {"id":N,"ok":false,"error":…}.
// Numbers that can exceed 2^53 (addresses, lengths, pagemap entries) travel as strings.
import type { Reply } from './subject.js';

/** What the agent reports in its ready line: the kernel, the machine and the interfaces it has. */
export interface Features {
  kernel: { release: string; version: string; arch: string; procVersion?: string };
  node: string;
  cpus: number;
  pageSize: number;
  interfaces: { procReclaim: boolean; shrinkmem: boolean; pmadvRange: boolean; processMrelease: boolean };
  swap: { totalKb: number; none?: string; device: string; devices: string[] };
  scratch: string;
  thp: string;
  hugepages: { sizeKb: number; total: number };
  /** anonymous mTHP folio sizes, kB */
  mthp: number[];
  kpage: boolean;
  ksm: boolean;
  ksmSharing: number;
  memTotalKb?: number;
  /** the patched interfaces' lines of the running kernel's own config, where it has one */
  kconfig?: { source: string; lines: string[] };
  /** where the start-up went, in seconds */
  uptime: { system: number; node: number; staged?: number };
}

/** The agent's first line, before any reply. */
export interface ReadyLine {
  ready: true;
  features: Features;
}

/** One process as observe sees it, in one round trip; a process without an mm answers { gone: errno }. */
export interface ObserveReply {
  gone?: string;
  /** per range: raw little-endian pagemap entries, base64 */
  pagemap?: string[];
  /** per range: the smaps fields of the VMA that is exactly that range, or null */
  smaps?: Array<Record<string, number> | null>;
  /** one entry per page of the ranges, base64 (0 where the page shows no PFN) */
  kpagecount?: string;
  kpageflags?: string;
  status?: Record<string, number>;
}

type None = Record<never, never>;

export interface Ops {
  features: { args: None; result: Features };
  ping: { args: None; result: { pong: true } };
  /** a new subject; with cpus, pinned there; with pidfd, also a pidfd to it */
  spawn: { args: { uid?: number; gid?: number; cpus?: number[]; pidfd?: boolean }; result: { pid: number; pidfd?: number } };
  /** several requests in order, one reply: a result or an error each */
  batch: { args: { reqs: AgentRequest[] }; result: { results: BatchReply[] } };
  /** one line of the subject's protocol, and the subject's reply */
  subject: { args: { pid: number; line: string }; result: Reply };
  fork: { args: { pid: number }; result: { pid: number } };
  /** resolves once a spawned subject has exited and been reaped */
  reap: { args: { pid: number }; result: None };
  /** a file from the host (e.g. a reproducer binary) */
  put: { args: { path: string; base64: string; mode?: number }; result: None };
  /** runs a program to completion */
  exec: { args: { argv: string[]; timeoutMs?: number }; result: { status: number | null; signal: string | null; stdout: string; stderr: string } };
  mount: { args: { source: string; target: string; fstype: string; options: string }; result: None };
  forget: { args: { pid: number }; result: None };
  /** kill(2); with states, then waits as await_state does */
  kill: { args: { pid: number; signal?: string; states?: string; timeoutMs?: number }; result: { state?: string; ms?: number } };
  /** until pid is in one of states (/proc/PID/stat letters; '-' for no such process), or ETIMEDOUT */
  await_state: { args: { pid: number; states: string; timeoutMs?: number }; result: { state: string; ms: number } };
  read: { args: { path: string }; result: { text: string } };
  /** pread(2) of length bytes at offset (a string: /proc/PID/mem at a user address) */
  pread: { args: { path: string; length: number; offset: string }; result: { base64: string } };
  stat: { args: { path: string }; result: { mode: number; uid: number; gid: number } };
  /** one write(2) of text (latin1) or base64 bytes: what it returned */
  write: { args: { path: string; text?: string; base64?: string }; result: { ret: number } };
  pidfd_open: { args: { pid: number; flags?: number }; result: { fd: number } };
  close: { args: { fd: number }; result: None };
  pidfd_send_signal: { args: { fd: number; sig: number; flags?: number }; result: None };
  /** iovecs as [addr, len] strings, or null; or ptr, an iovec pointer as it is; vlen: the count passed */
  process_madvise: { args: { fd: number; iovecs?: string[][] | null; ptr?: string; advice: number; flags?: number; vlen?: string }; result: { ret: string } };
  process_mrelease: { args: { fd: number; flags?: number }; result: None };
  sched_setaffinity: { args: { pid: number; cpus: number[] }; result: None };
  /** SCHED_FIFO (or back to SCHED_OTHER) for pid, 0 being the agent */
  sched_fifo: { args: { pid?: number; on: boolean }; result: None };
  pagemap: { args: { pid: number; addr: string; pages: number }; result: { entries: string[] } };
  kpage: { args: { pfns: string[] }; result: { count: string[]; flags: string[] } };
  observe: { args: { pid: number; ranges: Array<[addr: string, pages: number]>; smaps?: boolean; kpage?: boolean; status?: boolean }; result: ObserveReply };
  /** lets ksmd run until three full scans are done */
  ksm_merge: { args: None; result: { ms: number; pagesShared: number; pagesSharing: number } };
  /** swapon or swapoff the target's zram device */
  swap: { args: { on: boolean }; result: None };
  /** the request, run by a worker with that uid and gid */
  as_user: { args: { uid: number; gid?: number; req: AgentRequest }; result: unknown };
  poweroff: { args: None; result: None };
}

export type Op = keyof Ops;
export type Args<K extends Op> = Ops[K]['args'];
export type Result<K extends Op> = Ops[K]['result'];
/** A request as it goes into a batch: the op and its arguments. */
export type AgentRequest<K extends Op = Op> = { [J in K]: { op: J } & Args<J> }[K];
/** op(args) as one request, for a batch or a worker. */
export const agentRequest = <K extends Op>(op: K, args: Args<K>): AgentRequest => ({ op, ...args }) as AgentRequest;

/** One entry of a batch's reply, as the agent sends it. */
export type BatchReply = { ok: boolean; result?: unknown; error?: { code: string; errno: number; message: string } };
