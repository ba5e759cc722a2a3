// --target ssh://USER@HOST[:PORT]: the suite on a board's running kernel, over Debian's OpenSSH
// client. The target bundle is pushed once per run into /tmp/reclaim-harness-<key> on the board
// (kept with --keep, and then not pushed again), and the agent runs there over one multiplexed
// connection. The agent stages the board itself: its own zram swap, every knob put back when
// the connection ends. The board's console is not visible over ssh: a crash is a lost connection.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentChannel, GuestError, type TargetEnd } from './channel.js';
import { targetBundle } from '../builds/guest/target-bundle.js';
import { progress } from '../log.js';
import { ENV } from '../protocol/env.js';

export const hostKeyPolicies = ['check', 'new', 'any'] as const;
/** check: known_hosts must have the key; new: a host seen before must keep its key; any: no check (a board reflashed between runs) */
export type HostKeyPolicy = (typeof hostKeyPolicies)[number];

export interface SshAddress {
  user: string;
  host: string;
  port: number;
}

/** ssh://USER@HOST[:PORT] (HOST may be [v6]), or why not. */
export function parseSshUrl(url: string): SshAddress | string {
  const m = /^ssh:\/\/([A-Za-z0-9._][A-Za-z0-9._-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (!m) return 'want ssh://USER@HOST[:PORT]';
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) return `port ${port}: want 1 to 65535`;
  return { user: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export const sshName = (a: SshAddress) => `${a.user}@${a.host}:${a.port}`;

export interface SshOptions {
  address: SshAddress;
  identity?: string;
  hostKey: HostKeyPolicy;
  keep: boolean;
  /** a directory on a disk file system on the board */
  scratch: string;
  swap: number | 'none';
  outDir: string;
  timeoutMs: number;
}

/** What the agent needs on the board besides the bundle. */
const BOARD_TOOLS = ['sh', 'tar', 'gzip', 'mount', 'mkswap', 'swapon', 'swapoff', 'dmesg'];
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One multiplexed connection (ControlMaster) to a board, and the ssh commands that share it. */
class Connection {
  readonly control = mkdtempSync(join(tmpdir(), 'reclaim-ssh-'));
  constructor(private readonly o: SshOptions, private readonly log: string) {}

  private common(): string[] {
    const keys: Record<HostKeyPolicy, string[]> = {
      check: ['-o', 'StrictHostKeyChecking=yes'],
      new: ['-o', 'StrictHostKeyChecking=accept-new'],
      any: ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'],
    };
    return [
      '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
      '-o', `ControlPath=${join(this.control, 'cm')}`, ...keys[this.o.hostKey],
      ...(this.o.identity ? ['-i', this.o.identity, '-o', 'IdentitiesOnly=yes'] : []), '-p', String(this.o.address.port),
    ];
  }

  private dest = () => `${this.o.address.user}@${this.o.address.host}`;

  /** The master connection, in the background until close() (or 5 minutes unused). */
  open(): void {
    // its output to a file: a backgrounded master keeps the pipes it was given open.
    writeFileSync(this.log, '');
    // No -M: after ControlMaster=yes it would mean 'ask', and every request would be refused
    const fd = openSync(this.log, 'a');
    try {
      const r = spawnSync('ssh', [...this.common(), '-o', 'ControlMaster=yes', '-o', 'ControlPersist=300', '-N', '-f', this.dest()], { stdio: ['ignore', 'ignore', fd], timeout: 60_000 });
      if (r.error) throw new GuestError('ssh', 'ENOSSH', 0, `ssh: ${r.error.message} (Debian's openssh-client)`);
      if (r.status !== 0) {
        const err = readFileSync(this.log, 'utf8').trim().split('\n').slice(-2).join(' / ');
        throw new GuestError('boot', 'ECONNLOST', 0, `ssh to ${sshName(this.o.address)}: ${err || `exit ${r.status}`}${/Host key verification failed|IDENTIFICATION HAS CHANGED/.test(err) ? ' (a reflashed board has a new host key: --host-key any)' : ''}`);
      }
    } finally {
      closeSync(fd);
    }
  }

  args(command: string): string[] {
    return [...this.common(), '-o', 'ControlMaster=no', '-T', this.dest(), command];
  }

  /** A command to completion: its output, or an ERROR naming the connection. */
  run(command: string, input?: string): { stdout: string; stderr: string; status: number } {
    const r = spawnSync('ssh', this.args(command), { encoding: 'utf8', input, timeout: 600_000 });
    if (r.error) throw new GuestError('ssh', 'ENOSSH', 0, `ssh: ${r.error.message} (Debian's openssh-client)`);
    if (r.status === 255) throw new GuestError('ssh', 'ECONNLOST', 0, `ssh to ${sshName(this.o.address)}: ${r.stderr.trim().split('\n').slice(-2).join(' / ') || 'connection lost'}`);
    return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? 1 };
  }

  /** Pipes a file to a command. */
  async push(file: string, command: string): Promise<void> {
    const p = spawn('ssh', this.args(command), { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    createReadStream(file).pipe(p.stdin!);
    const code = await new Promise<number>((r) => p.on('exit', (c) => r(c ?? 1)));
    if (code !== 0) throw new GuestError('ssh', code === 255 ? 'ECONNLOST' : 'EPUSH', 0, `pushing the bundle to ${sshName(this.o.address)}: ${err.trim().split('\n').slice(-2).join(' / ') || `exit ${code}`}`);
  }

  close(): void {
    const r = spawnSync('ssh', [...this.common(), '-O', 'exit', this.dest()], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0 && existsSync(join(this.control, 'cm'))) appendFileSync(this.log, `ssh -O exit: ${r.status} ${r.stderr}`);
    rmSync(this.control, { recursive: true, force: true });
  }
}

export class SshTarget extends AgentChannel {
  private done = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly conn: Connection,
    private readonly remoteDir: string,
    private readonly o: SshOptions,
    agentLog: string,
  ) {
    super((line) => child.stdin!.write(line), agentLog, o.timeoutMs);
  }

  static async start(o: SshOptions): Promise<SshTarget> {
    const t0 = Date.now();
    const name = sshName(o.address);
    const conn = new Connection(o, join(o.outDir, 'ssh.log'));
    let t: SshTarget | undefined;
    try {
      // the board first: an unreachable one is said at once, before the bundle is built
      progress('ssh', `connecting to ${name}`);
      conn.open();
      // what the board must have, checked before the bundle is built
      const probe = conn.run(`uname -m; id -u; for t in ${BOARD_TOOLS.join(' ')}; do command -v $t >/dev/null || echo "missing $t"; done`);
      const [arch, uid, ...rest] = probe.stdout.trim().split('\n');
      if (arch !== 'aarch64') throw new GuestError('boot', 'ETARGET', 0, `${name} is ${arch}: the target bundle is arm64 (aarch64) only`);
      if (uid !== '0') throw new GuestError('boot', 'ETARGET', 0, `${name}: log in as root (uid ${uid}): the agent reads PFNs in pagemap, changes sysctls and sets up swap`);
      const missing = rest.filter((l) => l.startsWith('missing ')).map((l) => l.slice(8));
      if (missing.length) throw new GuestError('boot', 'ETARGET', 0, `${name} lacks ${missing.join(', ')} (busybox or util-linux provide them)`);
      const bundle = await targetBundle();
      const dir = `/tmp/reclaim-harness-${bundle.key}`;
      if (conn.run(`test -f ${dir}/BUNDLE && echo have-bundle; true`).stdout.includes('have-bundle')) progress('ssh', `bundle ${bundle.key} already on the board (${dir})`);
      else {
        progress('ssh', `pushing the bundle (${(bundle.bytes / 1048576).toFixed(1)} MiB) to ${name}:${dir}`);
        const p0 = Date.now();
        await conn.push(bundle.tarball, `rm -rf ${dir}.part && mkdir -p ${dir}.part && tar -xzf - -C ${dir}.part && mv ${dir}.part/reclaim ${dir} && rmdir ${dir}.part`);
        progress('ssh', `pushed in ${((Date.now() - p0) / 1000).toFixed(1)} s`);
      }
      const env = `${ENV.stageSwap}=${o.swap} ${ENV.scratch}=${sh(o.scratch)}`;
      const child = spawn('ssh', conn.args(`cd ${dir} && ${env} exec ./node agent.cjs --stdio`), { stdio: ['pipe', 'pipe', 'pipe'] });
      const target = (t = new SshTarget(child, conn, dir, o, join(o.outDir, 'agent.log')));
      target.attachChild(child, o.outDir, (code, sig, last) =>
        code === 255
          ? new GuestError('agent', 'ECONNLOST', 0, `the ssh connection to ${name} was lost${last ? `: ${last}` : ''}; the board's console is not visible over ssh, so a kernel crash shows only as this`)
          : new GuestError('agent', 'EAGENTEXIT', 0, `the agent on ${name} exited (${sig ?? code})${last ? `: ${last}` : ''}`),
      );
      await target.whenReady(t0, `on ${name}`);
      return target;
    } catch (e) {
      if (t) t.kill();
      else conn.close();
      throw e;
    }
  }

  async stop(): Promise<TargetEnd> {
    if (this.done) return {};
    this.child.stdin!.end(); // the agent puts the board back and exits at the end of its input
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await new Promise((r) => this.child.once('exit', r));
      clearTimeout(timer);
    }
    this.finish();
    return {};
  }

  kill(): void {
    if (this.done) return;
    // ssh's end is the agent's end of input (or SIGHUP): it still puts the board back
    this.child.kill('SIGTERM');
    this.finish();
  }

  private finish(): void {
    this.done = true;
    if (!this.o.keep) {
      try {
        this.conn.run(`rm -rf ${this.remoteDir}`);
      } catch (e) {
        process.stderr.write(`reclaim-harness: could not remove ${this.remoteDir} on ${sshName(this.o.address)}: ${(e as Error).message}\n`);
      }
    }
    this.conn.close();
  }
}
