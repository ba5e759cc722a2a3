// The emulated board of the ssh tests: a second arm64 QEMU VM that the harness does not boot.
// It runs Debian's arm64 dropbear from qemu/guest/ramdisk-init, with no Node. Its network is
// virtio-net on QEMU's user networking in isolated mode (restrict=on: nothing leaves the host),
// with one port forwarded on 127.0.0.1 only.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheDir, hashOf, publishDir, withLock } from '../../src/builds/cache.js';
import type { CpioEntry } from '../../src/builds/guest/cpio.js';
import { elfClosure } from '../../src/builds/guest/target-bundle.js';
import { makeScratchDisk } from '../../src/target/guest.js';
import { startQemu, type Vm } from '../../src/target/qemu.js';
import { ramdisk } from '../../src/builds/guest/ramdisk.js';

/** dropbear-bin and what it links, from Debian for arm64: downloaded and unpacked, never installed. */
const PACKAGES = ['dropbear-bin', 'libc6', 'libcrypt1', 'zlib1g', 'libtomcrypt1', 'libtommath1', 'libgmp10'].map((p) => `${p}:arm64`);

/** The unpacked packages and a login key of the tests' own, made once and cached. */
async function boardParts(): Promise<{ root: string; key: string }> {
  const dir = cacheDir('test-board', hashOf(['board-v1', ...PACKAGES]).slice(0, 16));
  const root = join(dir, 'x');
  const key = join(dir, 'id_ed25519');
  if (existsSync(key)) return { root, key };
  await withLock('test-board', async () => {
    if (existsSync(key)) return;
    await publishDir(dir, async (tmp) => {
      execFileSync('apt-get', ['download', ...PACKAGES], { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
      for (const deb of readdirSync(tmp).filter((f) => f.endsWith('.deb'))) execFileSync('dpkg', ['-x', join(tmp, deb), join(tmp, 'x')]);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'reclaim-harness-test-board', '-f', join(tmp, 'id_ed25519')]);
    });
  });
  return { root, key };
}

/** The board's ramdisk: the harness's busybox ramdisk with dropbear, its libraries and the key. */
async function boardRamdisk(): Promise<{ path: string; key: string }> {
  const { root, key } = await boardParts();
  const dropbear = join(root, 'usr', 'sbin', 'dropbear');
  const libs = await elfClosure([dropbear], ['lib/aarch64-linux-gnu', 'usr/lib/aarch64-linux-gnu'].map((d) => join(root, d)));
  libs.set('ld-linux-aarch64.so.1', realpathSync(join(root, 'lib', 'ld-linux-aarch64.so.1')));
  const pub = readFileSync(`${key}.pub`);
  const entries: CpioEntry[] = [
    { path: 'lib', type: 'dir' },
    { path: 'lib/aarch64-linux-gnu', type: 'dir' },
    ...[...libs].map(([soname, real]): CpioEntry => ({ path: `lib/aarch64-linux-gnu/${soname}`, type: 'file', data: readFileSync(real), mode: 0o755 })),
    { path: 'lib/ld-linux-aarch64.so.1', type: 'symlink', target: 'aarch64-linux-gnu/ld-linux-aarch64.so.1' },
    { path: 'usr/sbin/dropbear', type: 'file', data: readFileSync(dropbear), mode: 0o755 },
    { path: 'root/.ssh', type: 'dir', mode: 0o700 },
    { path: 'root/.ssh/authorized_keys', type: 'file', data: pub, mode: 0o600 },
  ];
  const rd = await ramdisk('test-board', entries, hashOf([...libs.keys(), pub, readFileSync(dropbear)]));
  return { path: rd.path, key };
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

export interface Board {
  port: number;
  /** the private key root logs in with */
  identity: string;
  vm: Vm;
  /** milliseconds from QEMU's start to an ssh login */
  upMs: number;
  /** a command on the board over ssh: its stdout (throws on failure) */
  ssh(command: string): string;
  stop(): Promise<void>;
}

export async function startBoard(kernel: string, dir: string): Promise<Board> {
  const rd = await boardRamdisk();
  const port = await freePort();
  const disk = await makeScratchDisk(join(dir, 'board-scratch.img'), 128);
  const t0 = Date.now();
  const vm = startQemu({
    kernel,
    initrd: rd.path,
    append: 'quiet',
    memMiB: 1024,
    smp: 2,
    consoleLog: join(dir, 'board-console.log'),
    timeoutMs: 30 * 60_000,
    scratchDisk: disk,
    name: 'reclaim-harness-test-board',
    extraArgs: ['-netdev', `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-device,netdev=n0'],
  });
  const opts = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', '-i', rd.key, '-p', String(port), 'root@127.0.0.1'];
  const ssh = (command: string) => {
    const r = spawnSync('ssh', [...opts, command], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`ssh ${command}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  let exited = false;
  void vm.done.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`the board's QEMU exited before ssh came up; console: ${join(dir, 'board-console.log')}\n${vm.console().slice(-2000)}`);
    if (spawnSync('ssh', [...opts, 'true'], { timeout: 10_000 }).status === 0) break;
    if (Date.now() - t0 > 120_000) {
      vm.kill();
      throw new Error(`no ssh on the board after 120 s; console:\n${vm.console().slice(-2000)}`);
    }
    await sleep(250);
  }
  return {
    port,
    identity: rd.key,
    vm,
    upMs: Date.now() - t0,
    ssh,
    stop: async () => {
      vm.kill();
      await vm.done;
    },
  };
}
