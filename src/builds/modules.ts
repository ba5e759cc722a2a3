// Kernel modules for a kernel whose drivers are modules (distro and vendor kernels): the drivers the
// guest uses and what they depend on, decompressed, in load order, as entries the guest image gains.
// /init loads them with insmod before anything else (qemu/guest/init).
//
//   --modules linux-image-*.deb | lib/modules/RELEASE (or a tree holding it) | modules.tar.xz
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { cacheDir, publishDir, usableEntry, withLock } from './cache.js';
import type { CpioEntry } from './guest/cpio.js';
import { progress } from '../log.js';
import { unpackDeb, unpackTar } from './archive.js';
import { head } from './kernel-image.js';

/** What the guest needs from a kernel, by module name; built in or a module, either will do. */
export const GUEST_DRIVERS: readonly { name: string; why: string; swapOnly?: boolean; optional?: boolean }[] = [
  { name: 'virtio_mmio', why: "the transport of QEMU virt's virtio devices (CONFIG_VIRTIO_MMIO)" },
  { name: 'virtio_console', why: "the agent's virtio-serial port (CONFIG_VIRTIO_CONSOLE)" },
  { name: 'virtio_blk', why: 'the scratch disk (CONFIG_VIRTIO_BLK)' },
  { name: 'ext4', why: "the scratch disk's file system (CONFIG_EXT4_FS)" },
  { name: 'zram', why: 'swap, --swap (CONFIG_ZRAM)', swapOnly: true },
  // zram's default compressor went through the crypto API before 6.12's own backends
  // (drivers/block/zram/backend_*.c, 917a59e81c34): zram cannot modprobe it in the guest.
  { name: 'lzo_rle', why: "zram's default compressor before 6.12", swapOnly: true, optional: true },
  { name: 'lzo', why: "zram's compressor, lzo", swapOnly: true, optional: true },
];

/** Where the guest image keeps them, and the list /init loads in order. */
export const GUEST_MODULE_DIR = 'opt/reclaim/modules';

export interface GuestModules {
  release: string;
  /** lib/modules/RELEASE they came from */
  dir: string;
  /** in load order: dependencies first */
  load: { name: string; file: string }[];
  builtin: string[];
  /** content hash of the decompressed modules, for the image's cache key */
  key: string;
  entries: CpioEntry[];
}

const MODULE_FILE = /\.ko(\.xz|\.zst|\.gz)?$/;
/** Module names treat '-' and '_' alike (kmod's modname normalisation). */
const modName = (file: string) => basename(file).replace(MODULE_FILE, '').replace(/-/g, '_');

/** A problem with --modules PATH before any work starts, or undefined. */
export function modulesProblem(path: string): string | undefined {
  if (!existsSync(path)) return 'no such file or directory';
  const st = statSync(path);
  if (st.isDirectory()) return releaseDirs(path).length ? undefined : 'no lib/modules/RELEASE in it (a directory with modules.order or kernel/)';
  if (/\.deb$/.test(path)) return head(path, 8).toString('latin1') === '!<arch>\n' ? undefined : 'not a Debian package (no ar header)';
  if (/\.(tar|tar\.(xz|gz|zst|bz2)|tgz|txz)$/.test(path)) return undefined;
  return 'want a linux-image-*.deb, a lib/modules/RELEASE directory or a modules tarball (.tar, .tar.xz, .tar.gz, .tar.zst)';
}

/** lib/modules/RELEASE directories at or under root. */
function releaseDirs(root: string): string[] {
  const isRelease = (d: string) => existsSync(join(d, 'modules.order')) || existsSync(join(d, 'kernel'));
  if (isRelease(root)) return [root];
  const out: string[] = [];
  for (const base of [root, join(root, 'lib', 'modules'), join(root, 'usr', 'lib', 'modules')]) {
    if (!existsSync(base) || !statSync(base).isDirectory()) continue;
    for (const e of readdirSync(base)) if (isRelease(join(base, e))) out.push(join(base, e));
  }
  return [...new Set(out)];
}

const fileHash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 24);

/** A .deb or tarball unpacked once into the cache, by content; a directory as it is. */
async function unpacked(path: string): Promise<string> {
  if (statSync(path).isDirectory()) return path;
  const dir = cacheDir('modules', `v2-${fileHash(path)}`); // v2: unpacked as data (archive.ts)
  const done = join(dir, 'tree');
  if (usableEntry(dir, done, false)) return done;
  await withLock(`modules-${basename(dir)}`, async () => {
    if (usableEntry(dir, done)) return;
    progress('modules', `unpacking ${basename(path)}`);
    await publishDir(dir, async (tmp) => {
      const into = join(tmp, 'tree');
      mkdirSync(into);
      if (path.endsWith('.deb')) await unpackDeb(path, into, tmp, path);
      else await unpackTar(path, into, path);
    });
  });
  return done;
}

/** The kernel image a linux-image-*.deb carries (boot/vmlinuz-RELEASE). */
export async function debKernel(deb: string): Promise<string> {
  const root = await unpacked(deb);
  const boot = join(root, 'boot');
  const v = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (!v) throw new Error(`--kernel ${deb}: no boot/vmlinuz-* in the package (is it a linux-image package?)`);
  return join(boot, v);
}

async function decompressed(file: string): Promise<Buffer> {
  if (file.endsWith('.gz')) return gunzipSync(readFileSync(file));
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) return readFileSync(file);
  const r = await execa(tool, ['-dc', file], { encoding: 'buffer', reject: false });
  if (r.exitCode !== 0) throw new Error(`${tool} -dc ${file} failed: ${Buffer.from(r.stderr).toString().trim()}`);
  return Buffer.from(r.stdout);
}

/** The names a module's .modinfo says it needs: depends=, and softdep pre: ones. */
export function modinfoDepends(ko: Buffer): string[] {
  const out: string[] = [];
  for (const key of ['depends=', 'softdep=']) {
    for (let at = ko.indexOf(`\0${key}`); at >= 0; at = ko.indexOf(`\0${key}`, at + 1)) {
      const end = ko.indexOf(0, at + 1);
      const value = ko.subarray(at + 1 + key.length, end).toString('latin1');
      if (key === 'depends=') out.push(...value.split(',').filter(Boolean));
      else out.push(...(/pre:\s*([^:]*?)(?:\s+post:|$)/.exec(value)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? []));
    }
  }
  return out.map((n) => n.replace(/-/g, '_'));
}

/**
 * The guest's drivers from the modules at path for kernel `release` (from the Image), with their
 * dependencies in load order. A driver neither built in nor there is an error that names it.
 */
export async function guestModules(path: string, release: string | undefined, swap: boolean): Promise<GuestModules> {
  const dirs = releaseDirs(await unpacked(path));
  if (!dirs.length) throw new Error(`--modules ${path}: no lib/modules/RELEASE in it`);
  const dir = release ? dirs.find((d) => basename(d) === release) : dirs.length === 1 ? dirs[0] : undefined;
  if (!dir) throw new Error(`--modules ${path}: ${release ? `no modules for the kernel's release ${release}` : 'modules for several releases and the kernel names none'}; it has ${dirs.map((d) => basename(d)).join(', ')}`);
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (MODULE_FILE.test(e.name)) files.set(modName(e.name), join(d, e.name));
    }
  };
  walk(dir);
  const builtinFile = join(dir, 'modules.builtin');
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(modName) : []);
  const depFile = join(dir, 'modules.dep');
  const depLines = existsSync(depFile) ? new Map(readFileSync(depFile, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [m, rest = ''] = l.split(':');
    return [modName(m!), rest.trim().split(/\s+/).filter(Boolean).map(modName)] as const;
  })) : undefined;
  const data = new Map<string, Buffer>();
  const depsOf = async (name: string): Promise<string[]> => {
    if (!data.has(name)) data.set(name, await decompressed(files.get(name)!));
    return depLines?.get(name) ?? modinfoDepends(data.get(name)!);
  };

  const lacking: string[] = [];
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = async (name: string, why: string, wanted = false) => {
    if (order.includes(name) || builtin.has(name)) return;
    if (!files.has(name)) {
      // with no modules.builtin to ask, a driver that is not there is taken to be built in
      if (builtin.size || !wanted) lacking.push(`${name}: ${why}`);
      return;
    }
    if (visiting.has(name)) throw new Error(`--modules: ${name} depends on itself through ${[...visiting].join(' -> ')}`);
    visiting.add(name);
    for (const d of await depsOf(name)) await visit(d, `needed by ${name}`);
    visiting.delete(name);
    order.push(name);
  };
  for (const d of GUEST_DRIVERS) {
    if (d.swapOnly && !swap) continue;
    if (d.optional && !files.has(d.name)) continue;
    await visit(d.name, d.why, true);
  }
  if (lacking.length) {
    throw new Error(`kernel ${basename(dir)} lacks what the guest needs, neither built in (modules.builtin) nor a module under ${dir}:\n  ${lacking.join('\n  ')}${lacking.some((l) => l.startsWith('zram')) ? '\n(--swap none boots it without zram)' : ''}`);
  }
  for (const n of order) if (!data.has(n)) data.set(n, await decompressed(files.get(n)!));
  const load = order.map((name, i) => ({ name, file: `${String(i + 1).padStart(2, '0')}-${name}.ko` }));
  const entries: CpioEntry[] = [
    { path: GUEST_MODULE_DIR, type: 'dir' },
    ...load.map((m): CpioEntry => ({ path: `${GUEST_MODULE_DIR}/${m.file}`, type: 'file', data: data.get(m.name)!, mode: 0o644 })),
    { path: `${GUEST_MODULE_DIR}/load.list`, type: 'file', data: load.map((m) => `${m.file}\n`).join(''), mode: 0o644 },
  ];
  const key = createHash('sha256');
  for (const m of load) key.update(m.file).update(data.get(m.name)!);
  progress('modules', `${basename(dir)}: ${load.length ? `loading ${load.map((m) => m.name).join(', ')}` : 'every driver the guest needs is built in'} (from ${dir})`);
  return { release: basename(dir), dir, load, builtin: [...builtin], key: key.digest('hex').slice(0, 24), entries };
}
