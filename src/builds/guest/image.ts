// Builds the guest initramfs: Debian's busybox-static and Node.js 18 for the
// guest's architecture, its shim and subject (arm64: cross-built; x86_64: the
// host's own build), the agent bundle and qemu/guest/init as /init.
// Every piece is cached by content; the image by the hash of all of them.
//
//   busybox   <cache>/guest-busybox/<version>/busybox         (apt-get download + dpkg -x)
//   Node.js   <cache>/guest-node/<key>/root/                  (mmdebstrap extract, pruned)
//   image     <cache>/images-guest/<key>/initramfs.cpio (uncompressed: unpacks ~1 s faster under TCG)
import { appendFileSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../native.js';
import { cacheDir, hashOf, publishDir, usableEntry, withLock } from '../cache.js';
import { type CpioEntry, cpio } from './cpio.js';
import { crossBuild } from '../crossbuild.js';
import { ensureTools } from '../doctor.js';
import { progress } from '../../log.js';
import { bundleSnapshotEntry } from './agent-bundle.js';
import type { GuestModules } from '../modules.js';
import { DEFAULT_ARCH, ARCH, ARM64_CPU, type Arch } from '../arch.js';

export interface ImageOptions {
  /** path of a single-file CommonJS agent (node script) */
  agentBundle: string;
  /** default arm64 */
  arch?: Arch;
}

export interface GuestImage {
  initrd: string;
  cacheKey: string;
  cached: boolean;
  bytes: number;
  seconds: number;
}

/** Bump when the image layout changes. */
const FORMAT = 'guest-image-v2-uncompressed';
const SUITE = 'bookworm';
export const initScript = join(packageRoot, 'qemu', 'guest', 'init');

/** Busybox applets linked in /bin: what /init uses, plus a usable shell. */
const APPLETS = [
  'sh', 'mount', 'umount', 'mkdir', 'mkswap', 'swapon', 'swapoff', 'cat', 'echo', 'sleep', 'setsid', 'cttyhack',
  'poweroff', 'reboot', 'sync', 'insmod', 'ls', 'grep', 'ps', 'free', 'dmesg', 'env', 'ln', 'rm', 'cp', 'mv', 'head', 'tail',
  'sed', 'awk', 'wc', 'tr', 'sort', 'find', 'xargs', 'kill', 'stat', 'uname', 'df', 'du', 'hexdump', 'vi', 'less', 'test', '[',
];

/** Not needed by Node at run time (paths in the mmdebstrap extract; TRIPLET: the multiarch directory). */
const PRUNE = [
  'dev', 'tmp', 'var', 'etc/apt', 'etc/dpkg', 'etc/fstab',
  'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bash-completion',
  'usr/share/gdb', 'usr/share/gcc', 'usr/share/systemtap', 'usr/include', 'usr/bin/acorn',
  'usr/share/nodejs/@types', // TypeScript declarations
  'usr/lib/TRIPLET/gconv', // iconv modules (glibc), 19 MB; Node does not use iconv
  'usr/lib/TRIPLET/engines-3', // OpenSSL engines and providers beyond the built-in default
  'usr/lib/TRIPLET/ossl-modules',
  // ICU libraries libnode does not link (it needs libicui18n, libicuuc, libicudata)
  'usr/lib/TRIPLET/libicuio.so.72', 'usr/lib/TRIPLET/libicuio.so.72.1',
  'usr/lib/TRIPLET/libicutest.so.72', 'usr/lib/TRIPLET/libicutest.so.72.1',
  'usr/lib/TRIPLET/libicutu.so.72', 'usr/lib/TRIPLET/libicutu.so.72.1',
];
/** File names pruned anywhere under usr/share/nodejs. */
const PRUNE_NODE_MODULE_FILES = /\.(d\.ts|md|markdown|map)$|^(CHANGELOG|README|LICENSE)/i;

const safe = (s: string) => s.replace(/[^A-Za-z0-9.+-]/g, '_');

/**
 * From `apt-cache policy` output: each package's newest version that Debian's SUITE (or its
 * -updates and -security) offers. Not apt's candidate: a version installed from elsewhere (the
 * host's Node from another repository, say) outranks the archive's, and the guest wants Debian's.
 */
export function suiteVersions(policy: string, suite: string): Map<string, string> {
  const found = new Map<string, string>();
  const suiteRe = new RegExp(`^${suite}(-updates|-security)?/`);
  let pkg: string | undefined;
  let version: string | undefined;
  for (const line of policy.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) [pkg, version] = [head[1], undefined];
    const v = /^ (?:\*\*\*| {3}) (\S+) -?\d+$/.exec(line);
    if (v) version = v[1];
    const src = /^ {8}-?\d+ \S+ (\S+) \S+ Packages$/.exec(line);
    if (pkg && version && src && suiteRe.test(src[1]!) && !found.has(pkg)) found.set(pkg, version);
  }
  return found;
}

/** Each package's version from Debian's SUITE, as pkg=version, in order. */
async function candidates(pkgs: string[]): Promise<string[]> {
  const found = suiteVersions((await execa('apt-cache', ['policy', ...pkgs])).stdout, SUITE);
  return pkgs.map((p) => {
    // apt names a package of the host's own architecture without its :ARCH
    const v = found.get(p) ?? found.get(p.replace(/:[^:]*$/, ''));
    if (!v) throw new Error(`guest image: Debian ${SUITE} offers no ${p} in apt's lists; run 'apt-get update'`);
    return `${p}=${v}`;
  });
}

interface AptVersions {
  busybox: string;
  /** nodejs:ARCH and its direct dependencies, as pkg=version */
  node: string[];
}

/** What apt's candidates depend on: package lists, sources, pins. */
function aptState(): string[] {
  const out: string[] = [];
  const add = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const f of readdirSync(p).sort()) add(join(p, f));
    else out.push(`${p} ${st.size} ${st.mtimeMs}`);
  };
  for (const p of ['/var/lib/apt/lists', '/etc/apt/sources.list', '/etc/apt/sources.list.d', '/etc/apt/preferences', '/etc/apt/preferences.d']) add(p);
  return out;
}

/**
 * Candidate versions of busybox-static and nodejs (with its dependencies) for
 * the guest. apt-cache takes seconds here (no pkgcache.bin), so the answer is kept
 * until apt's state changes.
 */
async function aptVersions(arch: Arch): Promise<AptVersions> {
  const { deb } = ARCH[arch];
  const memo = join(cacheDir('guest-apt'), `${hashOf(aptState()).slice(0, 24)}${arch === 'arm64' ? '' : `-${arch}`}.json`);
  if (existsSync(memo)) return JSON.parse(readFileSync(memo, 'utf8')) as AptVersions;
  const [busybox, node] = await candidates([`busybox-static:${deb}`, `nodejs:${deb}`]);
  const deps = (await execa('apt-cache', ['depends', '--no-recommends', '--no-suggests', node!])).stdout
    .split('\n')
    .flatMap((l) => /^\s+(?:Pre)?Depends: ([^<\s]\S*)$/.exec(l)?.[1] ?? []);
  const v: AptVersions = { busybox: busybox!.replace(/^[^=]*=/, ''), node: [node!, ...(await candidates([...new Set(deps)]))] };
  writeFileSync(`${memo}.tmp`, JSON.stringify(v));
  renameSync(`${memo}.tmp`, memo);
  return v;
}

async function busybox(version: string, arch: Arch): Promise<string> {
  const pkg = `busybox-static:${ARCH[arch].deb}`;
  const dir = join(cacheDir('guest-busybox'), `${safe(version)}${arch === 'arm64' ? '' : `-${arch}`}`);
  const path = join(dir, 'busybox');
  if (existsSync(path)) return path;
  await withLock('guest-busybox', async () => {
    if (existsSync(path)) return;
    progress('image', `apt-get download ${pkg}=${version}`);
    await publishDir(dir, async (tmp) => {
      // download + dpkg -x only: installing it would replace the host's /bin/busybox
      const r = await execa('apt-get', ['download', `${pkg}=${version}`], { cwd: tmp, all: true, reject: false });
      const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
      if (r.exitCode !== 0 || !deb) throw new Error(`apt-get download ${pkg} failed:\n${r.all}`);
      await execa('dpkg', ['-x', join(tmp, deb), join(tmp, 'x')]);
      renameSync(join(tmp, 'x', 'bin', 'busybox'), join(tmp, 'busybox'));
      rmSync(join(tmp, 'x'), { recursive: true });
      rmSync(join(tmp, deb));
    });
  });
  return path;
}

/** Regular files under dir (no symlinks followed). */
function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* files(join(dir, e.name));
    else if (e.isFile()) yield join(dir, e.name);
  }
}

const treeBytes = (dir: string) => [...files(dir)].reduce((n, f) => n + statSync(f).size, 0);

/** qemu/guest/icudata-stub.c: built in place of libicudata (31 MB) */
const ICU_STUB = join(packageRoot, 'qemu', 'guest', 'icudata-stub.c');

/** Replaces ICU's data library (libicudata.so.N.M, symbol icudtN_dat) with the stub. */
async function stubIcuData(root: string, arch: Arch): Promise<void> {
  const dir = join(root, 'usr', 'lib', ARCH[arch].triplet);
  const lib = readdirSync(dir).find((f) => /^libicudata\.so\.\d+\.\d+$/.test(f));
  if (!lib) throw new Error(`guest image: no libicudata.so.N.M in ${dir}`);
  const major = /\.so\.(\d+)\./.exec(lib)![1];
  const r = await execa(`${ARCH[arch].cross}gcc`, ['-shared', '-fPIC', '-nostdlib', '-s', `-DICU_DATA_SYMBOL=icudt${major}_dat`, `-Wl,-soname,libicudata.so.${major}`, '-o', join(dir, lib), ICU_STUB], { all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`guest image: building ${ICU_STUB} failed:\n${r.all}`);
}

function prune(root: string, arch: Arch): void {
  for (const p of PRUNE) rmSync(join(root, p.replace('TRIPLET', ARCH[arch].triplet)), { recursive: true, force: true });
  for (const f of files(join(root, 'usr', 'share', 'nodejs'))) {
    if (PRUNE_NODE_MODULE_FILES.test(basename(f))) rmSync(f);
  }
}

/** Node.js for the guest and its libraries, extracted by mmdebstrap and pruned. */
async function nodeTree(pkgs: string[], arch: Arch): Promise<{ root: string; key: string }> {
  const key = hashOf(['node-extract-v1', SUITE, ...pkgs, PRUNE.join('\n').replaceAll('TRIPLET', ARCH[arch].triplet), String(PRUNE_NODE_MODULE_FILES), readFileSync(ICU_STUB)]).slice(0, 24);
  const dir = join(cacheDir('guest-node'), key);
  const root = join(dir, 'root');
  if (existsSync(join(root, 'usr', 'bin', 'node'))) return { root, key };
  await withLock(`guest-node-${key}`, async () => {
    if (existsSync(join(root, 'usr', 'bin', 'node'))) return;
    progress('image', `mmdebstrap: ${pkgs[0]} for ${arch} from ${SUITE} (~20 s)`);
    await publishDir(dir, async (tmp) => {
      const tar = join(tmp, 'node.tar');
      // the version chosen (Debian's), not whatever apt in mmdebstrap would prefer
      const include = `nodejs=${pkgs[0]!.replace(/^[^=]*=/, '')}`;
      const r = await execa('mmdebstrap', ['--variant=extract', `--architectures=${ARCH[arch].deb}`, `--include=${include}`, SUITE, tar], { all: true, reject: false });
      if (r.exitCode !== 0) throw new Error(`mmdebstrap failed:\n${r.all}`);
      mkdirSync(join(tmp, 'root'));
      await execa('tar', ['-xf', tar, '-C', join(tmp, 'root'), '--exclude=./dev']);
      rmSync(tar);
      const before = treeBytes(join(tmp, 'root'));
      prune(join(tmp, 'root'), arch);
      await stubIcuData(join(tmp, 'root'), arch);
      const after = treeBytes(join(tmp, 'root'));
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ packages: pkgs, before, after }, null, 2));
      progress('image', `Node.js tree: ${mib(before)} MiB extracted, ${mib(after)} MiB after pruning`);
    });
  });
  return { root, key };
}

const mib = (n: number) => (n / 1048576).toFixed(1);

/**
 * Node's start-up snapshot for this Node tree (src/agent/snapshot.ts), built by the guest's Node
 * itself under qemu-user (-L: its libraries and /usr/share/nodejs come from the tree).
 */
async function nodeSnapshot(node: { root: string; key: string }, arch: Arch): Promise<Buffer> {
  const entry = await bundleSnapshotEntry();
  const cpu = arch === 'arm64' ? ['-cpu', ARM64_CPU] : [];
  const key = hashOf(['node-snapshot-v1', node.key, ...cpu, readFileSync(entry)]).slice(0, 24);
  const dir = join(cacheDir('guest-node'), node.key, 'snapshots');
  const blob = join(dir, `${key}.blob`);
  if (!existsSync(blob)) {
    progress('image', "building Node's start-up snapshot under qemu-user (~5 s)");
    mkdirSync(dir, { recursive: true });
    const user = ARCH[arch].qemuUser;
    const r = await execa(user, ['-L', node.root, ...cpu, join(node.root, 'usr', 'bin', 'node'), '--snapshot-blob', `${blob}.tmp`, '--build-snapshot', entry], { all: true, reject: false });
    if (r.exitCode !== 0) throw new Error(`node --build-snapshot under ${user} failed (exit ${r.exitCode}):\n${r.all}`);
    renameSync(`${blob}.tmp`, blob);
  }
  return readFileSync(blob);
}

/** Entries for every file, link and directory under root, parents first. */
export function treeEntries(root: string, rel = ''): CpioEntry[] {
  const out: CpioEntry[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const full = join(root, path);
    const st = lstatSync(full);
    const mode = st.mode & 0o7777;
    if (st.isSymbolicLink()) out.push({ path, type: 'symlink', target: readlinkSync(full) });
    else if (st.isDirectory()) out.push({ path, type: 'dir', mode }, ...treeEntries(root, path));
    else if (st.isFile()) out.push({ path, type: 'file', data: readFileSync(full), mode });
  }
  return out;
}

/** Debian's static busybox for arch. */
export async function guestBusybox(arch: Arch): Promise<string> {
  await ensureTools(['image']);
  return busybox((await aptVersions(arch)).busybox, arch);
}

/** Debian's Node.js for arch with its libraries: the extract's root, its key and its packages. */
export async function guestNode(arch: Arch): Promise<{ root: string; key: string; packages: string[] }> {
  await ensureTools(['image']);
  const apt = await aptVersions(arch);
  return { ...(await nodeTree(apt.node, arch)), packages: apt.node };
}

/** The shim and subject for arch: cross-built for arm64, the host's own build (npm install) for x86_64. */
async function nativeFor(arch: Arch): Promise<{ shim: string; subject: string }> {
  if (arch === 'arm64') return crossBuild('arm64');
  if (process.arch !== 'x64') throw new Error(`guest image: an ${arch} guest takes the host's shim and subject, and this host is ${process.arch}`);
  const out = join(packageRoot, 'build', 'Release');
  const built = { shim: join(out, 'reclaim_shim.node'), subject: join(out, 'subject') };
  for (const f of Object.values(built)) if (!existsSync(f)) throw new Error(`guest image: ${f} is missing: run npm install (node-gyp builds the shim and subject)`);
  return built;
}

export async function buildImage(o: ImageOptions): Promise<GuestImage> {
  const t0 = Date.now();
  if (!existsSync(o.agentBundle)) throw new Error(`guest image: agent bundle ${o.agentBundle} not found`);
  await ensureTools(['image']);
  const arch = o.arch ?? DEFAULT_ARCH;
  const apt = await aptVersions(arch);
  const bb = await busybox(apt.busybox, arch);
  const node = await nodeTree(apt.node, arch);
  const native = await nativeFor(arch);
  const shim = readFileSync(native.shim);
  const subject = readFileSync(native.subject);
  const agent = readFileSync(o.agentBundle);
  const init = readFileSync(initScript);
  const snapshot = await nodeSnapshot(node, arch);
  const cacheKey = hashOf([FORMAT, arch, apt.busybox, node.key, shim, subject, agent, init, snapshot, APPLETS.join(' ')]).slice(0, 32);
  return cachedImage(cacheKey, t0, async (tmp) => {
    progress('image', 'writing the guest initramfs');
    const entries: CpioEntry[] = [
      { path: 'init', type: 'file', data: init, mode: 0o755 },
      { path: 'bin', type: 'dir' },
      { path: 'bin/busybox', type: 'file', data: readFileSync(bb), mode: 0o755 },
      ...APPLETS.map((a): CpioEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
      { path: 'dev', type: 'dir' },
      { path: 'dev/console', type: 'char', major: 5, minor: 1 },
      { path: 'proc', type: 'dir', mode: 0o555 },
      { path: 'sys', type: 'dir', mode: 0o555 },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
      { path: 'mnt', type: 'dir' },
      { path: 'mnt/scratch', type: 'dir' },
      ...treeEntries(node.root),
      { path: 'opt', type: 'dir' },
      { path: 'opt/reclaim', type: 'dir' },
      { path: 'opt/reclaim/reclaim_shim.node', type: 'file', data: shim, mode: 0o755 },
      { path: 'opt/reclaim/subject', type: 'file', data: subject, mode: 0o755 },
      { path: 'opt/reclaim/agent.cjs', type: 'file', data: agent, mode: 0o644 },
      { path: 'opt/reclaim/node.blob', type: 'file', data: snapshot, mode: 0o644 },
    ];
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.path)) throw new Error(`guest image: ${e.path} twice in the initramfs (does the Node.js extract have it?)`);
      seen.add(e.path);
    }
    writeFileSync(join(tmp, 'initramfs.cpio'), cpio(entries));
    writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ format: FORMAT, arch, busybox: apt.busybox, node: apt.node, agent: o.agentBundle, builtAt: new Date().toISOString() }, null, 2));
  });
}

/** <cache>/images-guest/<cacheKey>/initramfs.cpio, written by fill into a directory published whole. */
async function cachedImage(cacheKey: string, t0: number, fill: (tmp: string) => Promise<void>): Promise<GuestImage> {
  const entry = cacheDir('images-guest', cacheKey);
  const initrd = join(entry, 'initramfs.cpio');
  const result = (cached: boolean): GuestImage => ({ initrd, cacheKey, cached, bytes: statSync(initrd).size, seconds: (Date.now() - t0) / 1000 });
  if (usableEntry(entry, initrd, false)) return result(true);
  return withLock(`guest-image-${cacheKey}`, async () => {
    if (usableEntry(entry, initrd)) return result(true);
    await publishDir(entry, fill);
    const r = result(false);
    progress('image', `initramfs ${mib(r.bytes)} MiB in ${r.seconds.toFixed(1)} s: ${initrd}`);
    return r;
  });
}

/**
 * The image with a kernel's modules appended as a second cpio archive (the kernel unpacks
 * concatenated archives in order), cached by the image and the modules' content.
 */
export async function withModules(image: GuestImage, mods: GuestModules): Promise<GuestImage> {
  return cachedImage(hashOf([image.cacheKey, mods.key]).slice(0, 32), Date.now(), async (tmp) => {
    copyFileSync(image.initrd, join(tmp, 'initramfs.cpio'));
    appendFileSync(join(tmp, 'initramfs.cpio'), cpio(mods.entries));
    writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ base: image.cacheKey, release: mods.release, modules: mods.load.map((m) => m.name), from: mods.dir }, null, 2));
  });
}
