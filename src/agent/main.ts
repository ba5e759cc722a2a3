// The guest agent: JSON lines with request ids over the virtio-serial port.
//
//   node agent.cjs /dev/vportNpM   serve the host; the first line is {"ready":true,"features":…}
//   node agent.cjs --worker        serve one parent on stdin/stdout (operations as another uid)
//
// Request {"id":N,"op":"…",…}; reply {"id":N,"ok":true,"result":…} or
// {"id":N,"ok":false,"error":{"code","errno","syscall","message"}}. Numbers that
// can exceed 2^53 (addresses, lengths, pagemap entries) travel as strings.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsc, createReadStream, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { cpus, release, version } from 'node:os';
import type { Readable } from 'node:stream';
import { loadNative, type Native } from '../native.js';
import { JsonLineChannel } from './lines.js';
import { readEntries } from './pagemap.js';
import { Subject } from './subject.js';

type Req = { id: number; op: string; [k: string]: unknown };
type Op = (r: Req) => unknown;

const SHIM = process.env.RECLAIM_SHIM;
const SUBJECT = process.env.RECLAIM_SUBJECT ?? '/opt/reclaim/subject';

let nativeShim: Native | undefined;
const shim = () => (nativeShim ??= loadNative(SHIM));
const subjects = new Map<number, Subject>();
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

const bytesOf = (r: Req) => (r.base64 !== undefined ? Buffer.from(String(r.base64), 'base64') : Buffer.from(String(r.text), 'latin1'));

function features() {
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
    kernel: { release: release(), version: version(), arch: process.arch },
    node: process.version,
    cpus: cpus().length,
    pageSize: s.pageSize,
    interfaces: {
      procReclaim: has('/proc/self/reclaim'),
      shrinkmem: has('/dev/shrinkmem'),
      pmadvRange: range === 'ok',
      processMrelease: probe(() => s.processMrelease(-1, 0)) === 'EBADF',
    },
    swap: { totalKb: meminfo.SwapTotal ?? 0, devices: (text('/proc/swaps') ?? '').split('\n').slice(1).map((l) => l.split(/\s+/)[0]) },
    thp: text('/sys/kernel/mm/transparent_hugepage/enabled')?.match(/\[(\w+)\]/)?.[1] ?? 'unsupported',
    hugepages: { sizeKb: meminfo.Hugepagesize ?? 0, total: meminfo.HugePages_Total ?? 0 },
    kpage: has('/proc/kpagecount') && has('/proc/kpageflags'),
    memTotalKb: meminfo.MemTotal,
  };
}

async function asUser(r: Req): Promise<unknown> {
  const uid = Number(r.uid);
  const gid = Number(r.gid ?? r.uid);
  const key = `${uid}:${gid}`;
  let w = workers.get(key);
  if (!w) {
    const child = spawn(process.execPath, [process.argv[1]!, '--worker'], { uid, gid, stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    w = { child, channel: new JsonLineChannel(child.stdout!, child.stdin!, `worker ${key}`), seq: 0 };
    workers.set(key, w);
  }
  const reply = (await w.channel.request(JSON.stringify({ ...(r.req as object), id: ++w.seq }))) as { ok: boolean; result?: unknown; error?: unknown };
  if (!reply.ok) throw Object.assign(new Error(String((reply.error as { message?: string }).message)), reply.error as object);
  return reply.result;
}

const ops: Record<string, Op> = {
  features,
  ping: () => ({ pong: true }),
  spawn: async (r) => {
    const s = await Subject.spawn(SUBJECT, r.uid === undefined ? {} : { uid: Number(r.uid), gid: Number(r.gid ?? r.uid) });
    subjects.set(s.pid, s);
    return { pid: s.pid };
  },
  subject: (r) => subject(r.pid).send(String(r.line)),
  fork: async (r) => {
    const c = await subject(r.pid).fork();
    subjects.set(c.pid, c);
    return { pid: c.pid };
  },
  forget: (r) => (subjects.get(Number(r.pid))?.close(), subjects.delete(Number(r.pid)), {}),
  kill: (r) => (process.kill(Number(r.pid), String(r.signal ?? 'SIGKILL') as NodeJS.Signals), {}),
  read: (r) => ({ text: readFileSync(String(r.path), 'latin1') }),
  stat: (r) => {
    const st = statSync(String(r.path));
    return { mode: st.mode, uid: st.uid, gid: st.gid };
  },
  write: (r) => ({ ret: writeOnce(String(r.path), bytesOf(r)) }),
  pidfd_open: (r) => ({ fd: shim().pidfdOpen(Number(r.pid), Number(r.flags ?? 0)) }),
  close: (r) => (shim().close(Number(r.fd)), {}),
  pidfd_send_signal: (r) => (shim().pidfdSendSignal(Number(r.fd), Number(r.sig), Number(r.flags ?? 0)), {}),
  process_madvise: (r) => {
    const iov = r.iovecs === null ? null : (r.iovecs as string[][]).map(([a, l]) => ({ addr: BigInt(a!), len: BigInt(l!) }));
    return { ret: String(shim().processMadvise(Number(r.fd), iov, Number(r.advice), Number(r.flags ?? 0))) };
  },
  process_mrelease: (r) => (shim().processMrelease(Number(r.fd), Number(r.flags ?? 0)), {}),
  sched_setaffinity: (r) => (shim().schedSetaffinity(Number(r.pid), r.cpus as number[]), {}),
  pagemap: (r) => ({ entries: readEntries(`/proc/${Number(r.pid)}/pagemap`, BigInt(String(r.addr)) / BigInt(shim().pageSize), Number(r.pages)).map((e) => e.toString(16)) }),
  kpage: (r) => {
    const one = (file: string, pfn: string) => readEntries(file, BigInt(pfn), 1)[0]!.toString(16);
    const pfns = r.pfns as string[];
    return { count: pfns.map((p) => one('/proc/kpagecount', p)), flags: pfns.map((p) => one('/proc/kpageflags', p)) };
  },
  as_user: asUser,
  poweroff: () => {
    setImmediate(() => process.exit(0));
    return {};
  },
};

function errorOf(e: unknown) {
  const x = e as { code?: string; errno?: number; syscall?: string; message?: string };
  return { code: x.code ?? 'EAGENT', errno: typeof x.errno === 'number' ? Math.abs(x.errno) : 0, syscall: x.syscall, message: x.message ?? String(e) };
}

function serve(input: Readable, send: (line: string) => void): void {
  let buf = '';
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      let req: Req;
      try {
        req = JSON.parse(line) as Req;
      } catch {
        send(JSON.stringify({ id: null, ok: false, error: { code: 'EPROTO', errno: 0, message: `bad request: ${line.slice(0, 100)}` } }));
        continue;
      }
      const op = ops[req.op];
      Promise.resolve()
        .then(() => {
          if (!op) throw Object.assign(new Error(`unknown op '${req.op}'`), { code: 'ENOSYS' });
          return op(req);
        })
        .then(
          (result) => send(JSON.stringify({ id: req.id, ok: true, result })),
          (e) => send(JSON.stringify({ id: req.id, ok: false, error: errorOf(e) })),
        );
    }
  });
  input.on('end', () => process.exit(0));
}

const arg = process.argv[2];
if (arg === '--worker') {
  serve(process.stdin, (l) => process.stdout.write(l + '\n'));
} else if (arg) {
  const fd = openSync(arg, 'r+');
  const send = (l: string) => writeSync(fd, l + '\n');
  serve(createReadStream('', { fd, autoClose: false }), send);
  send(JSON.stringify({ ready: true, features: features() }));
} else {
  process.stderr.write('usage: agent.cjs /dev/vportNpM | --worker\n');
  process.exit(2);
}
