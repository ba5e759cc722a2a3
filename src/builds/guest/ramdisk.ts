// Ramdisks for machines the harness does not drive itself: busybox, qemu/guest/ramdisk-init and
// what the caller adds (the target bundle for a LAVA job; dropbear for the tests' emulated board).
// Cached by the hash of everything in them.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { packageRoot } from '../../native.js';
import { cacheDir, hashOf, publishDir, withLock } from '../cache.js';
import { type CpioEntry, cpio } from './cpio.js';
import { targetBundle } from './target-bundle.js';
import { guestBusybox, treeEntries } from './image.js';
import { progress } from '../../log.js';

export const ramdiskInit = join(packageRoot, 'qemu', 'guest', 'ramdisk-init');

export interface Ramdisk {
  /** a gzipped newc cpio */
  path: string;
  key: string;
  bytes: number;
}

/** Busybox, the init and its directories, then extra (parents first), as one gzipped cpio. */
export async function ramdisk(name: string, extra: CpioEntry[], extraKey: string): Promise<Ramdisk> {
  const bb = readFileSync(await guestBusybox('arm64'));
  const init = readFileSync(ramdiskInit);
  const key = hashOf(['ramdisk-v1', name, bb, init, extraKey]).slice(0, 24);
  const dir = cacheDir('ramdisks', key);
  const path = join(dir, `${name}.cpio.gz`);
  const done = (): Ramdisk => ({ path, key, bytes: statSync(path).size });
  if (existsSync(path)) return done();
  return withLock(`ramdisk-${key}`, async () => {
    if (existsSync(path)) return done();
    const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'mnt', 'mnt/scratch', 'opt', 'run'];
    const entries: CpioEntry[] = [
      { path: 'init', type: 'file', data: init, mode: 0o755 },
      ...dirs.map((d): CpioEntry => ({ path: d, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 })),
      { path: 'root', type: 'dir', mode: 0o700 },
      { path: 'bin/busybox', type: 'file', data: bb, mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', target: 'busybox' },
      { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
      { path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 },
      { path: 'etc/passwd', type: 'file', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n', mode: 0o644 },
      { path: 'etc/group', type: 'file', data: 'root:x:0:\nnogroup:x:65534:\n', mode: 0o644 },
      { path: 'etc/shells', type: 'file', data: '/bin/sh\n', mode: 0o644 },
      ...extra,
    ];
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.path)) throw new Error(`ramdisk ${name}: ${e.path} twice`);
      seen.add(e.path);
    }
    await publishDir(dir, async (tmp) => writeFileSync(join(tmp, `${name}.cpio.gz`), gzipSync(cpio(entries), { level: 6 })));
    const r = done();
    progress('ramdisk', `${name}: ${(r.bytes / 1048576).toFixed(1)} MiB: ${path}`);
    return r;
  });
}

/** The LAVA job's ramdisk: the target bundle unpacked in /opt/reclaim. */
export async function bundleRamdisk(): Promise<Ramdisk> {
  const b = await targetBundle();
  const unpacked = cacheDir('bundles', b.key, 'tree');
  if (!existsSync(join(unpacked, 'reclaim', 'BUNDLE'))) {
    await publishDir(unpacked, async (tmp) => void (await execa('tar', ['-xzf', b.tarball, '-C', tmp])));
  }
  const tree = treeEntries(join(unpacked, 'reclaim')).map((e) => ({ ...e, path: `opt/reclaim/${e.path}` }));
  return ramdisk('reclaim-lava', [{ path: 'opt/reclaim', type: 'dir', mode: 0o755 }, ...tree], b.key);
}
