// native/subject.c run on this machine: the workload process whose memory is reclaimed.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLineChannel } from '../protocol/lines.js';
import { SubjectClient, type Reply } from '../protocol/subject.js';


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
