// Builds the guest kernel (arm64 Image, x86_64 bzImage): source, patch series,
// config fragments, out-of-tree build, content-addressed cache.
//
//   source tree (Debian's linux-source-6.12, or --kernel-src DIR, never modified)
//     -> private tree  <cache>/trees/<srcId>-<variant>  (rsync copy + the series; only
//                                                        files whose content changes are rewritten)
//     -> build dir     <cache>/build/<srcId>-<variant>-<profile>[-<arch>]  (make O=, incremental;
//                                                        arm64's has no suffix)
//     -> Image         <cache>/images/<key>/   (key: source, series, fragments, profile, toolchain)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../native.js';
import { cacheDir, hashOf, publishDir, usableEntry, withLock } from './cache.js';
import { ensureTools } from './doctor.js';
import { progress } from '../log.js';
import { DEFAULT_ARCH, ARCH, type Arch } from './arch.js';
import { fromConfig, merge, parseExpect, type Expected, type Patched } from '../protocol/kconfig.js';

export type Profile = 'default' | 'debug';

export interface KernelOptions {
  /** The user's own tree; default: Debian's linux-source-6.12. */
  kernelSrc?: string;
  /** A directory of *.patch files, or 'none'; default: qemu/patches/linux-6.12. */
  patches?: string;
  /** Patches applied after the series, e.g. a mutant; they share the series' tree and build dir. */
  extraPatches?: string[];
  profile?: Profile;
  /** default arm64 */
  arch?: Arch;
}

export interface KernelBuild {
  /** Image (arm64) or bzImage (x86_64) */
  image: string;
  arch: Arch;
  cacheKey: string;
  cached: boolean;
  seconds: number;
  config: string;
}

export const defaultPatches = join(packageRoot, 'qemu', 'patches', 'linux-6.12');

/** The .config an Image of ours was built with: beside it in its cache entry (meta.json says it is one). */
export function configBeside(image: string): string | undefined {
  const dir = dirname(image);
  return existsSync(join(dir, 'meta.json')) && existsSync(join(dir, 'config')) ? join(dir, 'config') : undefined;
}

/**
 * The interfaces a kernel must have (kconfig.ts): from the .config of one we built, or the one
 * beside a given Image of ours in the cache, and --expect. The target's own config adds to them.
 */
export function expectedOf(kernel: { image: string; config?: string }, expect: readonly Patched[] = []): Expected {
  const config = kernel.config ?? configBeside(kernel.image);
  return merge(config ? fromConfig(readFileSync(config, 'utf8'), kernel.config ? "the built kernel's .config" : `${config} (beside the Image)`) : undefined, expect.length ? parseExpect(expect.join(',')) : undefined);
}
const fragmentDir = join(packageRoot, 'qemu', 'kernel');
const DEBIAN_PKG = 'linux-source-6.12';
const DEBIAN_TARBALL = '/usr/src/linux-source-6.12.tar.xz';

export interface Source {
  /** names the private tree and build dirs */
  id: string;
  dir: string;
  /** changes whenever the source content does */
  identity: string;
}

export interface Series {
  name: string;
  patches: string[];
  hash: string;
  files: string[];
}

// ---- source ----

export async function debianSource(): Promise<Source> {
  await ensureTools(['debian-source']);
  const version = (await execa('dpkg-query', ['-W', '-f=${Version}', DEBIAN_PKG])).stdout.trim();
  const id = `debian-${version.replace(/[^A-Za-z0-9.+-]/g, '_')}`;
  const dir = join(cacheDir('src'), id);
  if (!existsSync(join(dir, 'Makefile'))) {
    await withLock(`src-${id}`, async () => {
      if (existsSync(join(dir, 'Makefile'))) return;
      progress('kernel', `unpacking ${DEBIAN_TARBALL} (${version}) into ${dir}`);
      await publishDir(dir, async (tmp) => {
        await execa('tar', ['-xf', DEBIAN_TARBALL, '-C', tmp, '--strip-components=1']);
      });
    });
  }
  return { id, dir, identity: `debian:${version}` };
}

/** What is wrong with path as a kernel source tree to build out of tree, or undefined. */
export function kernelTreeProblem(path: string): string | undefined {
  if (!existsSync(path)) return 'no such directory';
  if (!statSync(path).isDirectory()) return 'not a directory';
  if (!existsSync(join(path, 'Makefile')) || !existsSync(join(path, 'mm'))) return 'not a kernel source tree (no Makefile and mm/)';
  if (existsSync(join(path, '.config')) || existsSync(join(path, 'include', 'config'))) {
    return "the tree is configured in place; out-of-tree builds (O=) need a clean tree: run 'make mrproper' there";
  }
  return undefined;
}

async function userSource(path: string): Promise<Source> {
  const problem = kernelTreeProblem(path);
  if (problem) throw new Error(`--kernel-src ${path}: ${problem}`);
  const dir = realpathSync(path);
  let identity: string;
  if (existsSync(join(dir, '.git'))) {
    const git = (...a: string[]) => execa('git', ['-C', dir, ...a]).then((r) => r.stdout);
    identity = `git:${await git('rev-parse', 'HEAD')}:${hashOf([await git('status', '--porcelain'), await git('diff', 'HEAD')])}`;
  } else {
    const r = await execa('find', [dir, '-type', 'f', '-not', '-path', '*/.git/*', '-printf', '%P %s %T@\\n']);
    identity = `files:${hashOf([r.stdout.split('\n').sort().join('\n')])}`;
  }
  return { id: `tree-${hashOf([dir]).slice(0, 16)}`, dir, identity };
}

// ---- series ----

/** The series with more patches after it (same name, so the same tree and build dir). */
export function withExtra(series: Series, extra: readonly string[]): Series {
  if (!extra.length) return series;
  const more = readSeriesFiles(extra.map((p) => realpathSync(p)));
  return { name: series.name, patches: [...series.patches, ...more.patches], hash: hashOf([series.hash, more.hash]), files: [...new Set([...series.files, ...more.files])].sort() };
}

function readSeriesFiles(list: string[]): Omit<Series, 'name'> {
  const files = new Set<string>();
  const contents = list.map((p) => readFileSync(p, 'utf8'));
  for (const text of contents) {
    for (const m of text.matchAll(/^diff --git a\/(\S+) b\/(\S+)$/gm)) {
      files.add(m[1]!);
      files.add(m[2]!);
    }
  }
  return { patches: list, hash: hashOf(contents), files: [...files].sort() };
}

const patchFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.patch')).sort().map((f) => join(dir, f));

/** What is wrong with --patches DIR, or undefined. */
export function seriesProblem(patches: string): string | undefined {
  if (patches === 'none') return undefined;
  if (!existsSync(patches)) return `no patch series at ${patches}`;
  if (!statSync(patches).isDirectory()) return `${patches} is a file; --patches takes a directory of *.patch files (git format-patch), or none`;
  if (!patchFiles(patches).length) return `no *.patch files in ${patches}`;
  return undefined;
}

export function readSeries(patches: string): Series {
  if (patches === 'none') return { name: 'none', patches: [], hash: 'none', files: [] };
  const problem = seriesProblem(patches);
  if (problem) throw new Error(`--patches: ${problem}`);
  const dir = realpathSync(patches);
  return { name: dir, ...readSeriesFiles(patchFiles(dir)) };
}

/**
 * A scratch directory holding `files` of the source with the series applied
 * (a file the series creates is there too). The caller removes it.
 */
export async function stageSeries(src: Source, series: Series, files: readonly string[] = series.files): Promise<string> {
  const stage = mkdtempSync(join(tmpdir(), 'reclaim-series-'));
  for (const f of files) {
    if (!existsSync(join(src.dir, f))) continue;
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    copyFileSync(join(src.dir, f), join(stage, f));
  }
  for (const p of series.patches) {
    const r = await execa('git', ['apply', '-p1', '--whitespace=nowarn', p], { cwd: stage, reject: false, all: true });
    if (r.exitCode !== 0) {
      rmSync(stage, { recursive: true, force: true });
      throw new Error(`patch ${relative(packageRoot, p)} does not apply to ${src.dir}:\n${r.all}`);
    }
  }
  return stage;
}

/**
 * Whether the source already holds the series (a developer's tree with it applied, and perhaps
 * edited since): the Kconfig files the series touches already define every symbol reclaim.config
 * asks for. Then the tree is built as it is.
 */
export function seriesInTree(src: Source, series: Series): boolean {
  if (!series.patches.length) return false;
  const defined = new Set<string>();
  for (const f of series.files.filter((f) => /(^|\/)Kconfig[^/]*$/.test(f))) {
    if (!existsSync(join(src.dir, f))) continue;
    for (const m of readFileSync(join(src.dir, f), 'utf8').matchAll(/^\s*(?:menu)?config\s+(\w+)/gm)) defined.add(`CONFIG_${m[1]}`);
  }
  const wanted = [...requestedSymbols([join(fragmentDir, 'reclaim.config')]).keys()];
  return wanted.length > 0 && wanted.every((sym) => defined.has(sym));
}

/** --kernel-src DIR, or Debian's linux-source-6.12. */
export const kernelSource = (kernelSrc?: string): Promise<Source> => (kernelSrc ? userSource(kernelSrc) : debianSource());

/**
 * Makes tree = source + series. rsync brings everything the series does not
 * touch; the touched files are staged, patched, and written only where their
 * content changes, so make rebuilds just what the series changed.
 */
export async function syncTree(src: Source, series: Series, tree: string): Promise<void> {
  const stateFile = join(tree, '.reclaim-harness-series.json');
  const before: string[] = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : [];
  const touched = [...new Set([...before, ...series.files])].sort();
  const stage = await stageSeries(src, series, touched);
  try {
    const exclude = join(stage, '.exclude');
    writeFileSync(exclude, ['/.git', '/.reclaim-harness-series.json', ...touched.map((f) => `/${f}`)].join('\n') + '\n');
    progress('kernel', `syncing private tree ${tree}`);
    mkdirSync(tree, { recursive: true });
    await execa('rsync', ['-a', '--delete', `--exclude-from=${exclude}`, `${src.dir}/`, `${tree}/`]);
    rmSync(exclude);
    let changed = 0;
    for (const f of touched) {
      const staged = join(stage, f);
      const dest = join(tree, f);
      if (!existsSync(staged)) {
        if (existsSync(dest)) (rmSync(dest), changed++);
        continue;
      }
      const data = readFileSync(staged);
      if (existsSync(dest) && readFileSync(dest).equals(data)) continue;
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(`${dest}.tmp`, data, { mode: statSync(staged).mode });
      renameSync(`${dest}.tmp`, dest);
      changed++;
    }
    writeFileSync(stateFile, JSON.stringify(series.files));
    progress('kernel', `series ${series.name === 'none' ? 'none' : `${series.patches.length} patches`}: ${changed} file(s) changed in the tree`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

// ---- config ----

export function fragmentsFor(series: Series, profile: Profile, arch: Arch = DEFAULT_ARCH): string[] {
  const names = ['base.config', ARCH[arch].fragment];
  if (series.name !== 'none') names.push('reclaim.config');
  if (profile === 'debug') names.push('debug.config');
  return names.map((n) => join(fragmentDir, n));
}

/** CONFIG_X -> requested value ('n' for "is not set") across the fragments. */
export function requestedSymbols(fragments: string[]): Map<string, string> {
  const want = new Map<string, string>();
  for (const f of fragments) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const set = /^(CONFIG_\w+)=(.*)$/.exec(line.trim());
      const unset = /^# (CONFIG_\w+) is not set$/.exec(line.trim());
      if (set) want.set(set[1]!, set[2]!);
      else if (unset) want.set(unset[1]!, 'n');
    }
  }
  return want;
}

/** Symbols whose final value differs from the request, as "CONFIG_X: wanted y, got n". */
export function droppedSymbols(want: Map<string, string>, dotConfig: string): string[] {
  const got = requestedSymbols([dotConfig]);
  const out: string[] = [];
  for (const [sym, val] of want) {
    const actual = got.get(sym) ?? 'n';
    if (actual !== val) out.push(`${sym}: wanted ${val}, got ${actual === 'n' && !got.has(sym) ? 'absent' : actual}`);
  }
  return out;
}

// ---- make ----

async function makeArgs(tree: string, out: string, arch: Arch): Promise<string[]> {
  const { makeArch, cross } = ARCH[arch];
  const ccache = (await execa('ccache', ['--version'], { reject: false })).exitCode === 0;
  return ['-C', tree, `O=${out}`, `ARCH=${makeArch}`, ...(cross ? [`CROSS_COMPILE=${cross}`] : []), ...(ccache ? [`CC=ccache ${cross}gcc`] : [])];
}

async function make(args: string[], log: string, phase: string): Promise<void> {
  const countFile = `${log}.count`;
  const expected = existsSync(countFile) ? Number(readFileSync(countFile, 'utf8')) : 0;
  let compiled = 0;
  let last = Date.now();
  const child = execa('make', args, { all: true, reject: false, buffer: false });
  const chunks: string[] = [];
  child.all!.setEncoding('utf8');
  child.all!.on('data', (d: string) => {
    chunks.push(d);
    compiled += d.match(/^\s+(CC|AS|LD|AR)\s/gm)?.length ?? 0;
    if (Date.now() - last > 15000) {
      last = Date.now();
      progress('kernel', `${phase}: ${compiled}${expected ? `/~${expected}` : ''} compiled`);
    }
  });
  const r = await child;
  const text = chunks.join('');
  writeFileSync(log, text);
  if (r.exitCode !== 0) {
    const first = text.split('\n').find((l) => /\berror\b|Error \d/.test(l)) ?? '(no error line found)';
    throw new Error(`kernel ${phase} failed: ${first.trim()}\nfull log: ${log}`);
  }
  if (phase === 'build' && compiled > expected) writeFileSync(countFile, String(compiled));
  if (phase === 'build') progress('kernel', `build: ${compiled} compiled`);
}

/**
 * What the generated .config depends on: the tree's Kconfig files, its config fragments and
 * kconfig itself (by size and mtime: syncTree rewrites only what changes), the top Makefile, our
 * fragments and the compiler. An edit to a .c file leaves it alone.
 */
async function configKey(tree: string, fragments: string[], arch: Arch): Promise<string> {
  const files = await execa('find', ['.', '(', '-name', 'Kconfig*', '-o', '-name', '*.config', '-o', '-path', './scripts/kconfig/*', ')', '-type', 'f', '-printf', '%P %s %T@\\n'], { cwd: tree });
  const cc = (await execa(`${ARCH[arch].cross}gcc`, ['--version'])).stdout;
  return hashOf(['config-v1', arch, cc, readFileSync(join(tree, 'Makefile')), files.stdout.split('\n').sort().join('\n'), ...fragments.flatMap((f) => [f, readFileSync(f)])]);
}

async function configure(tree: string, fragments: string[], build: string, arch: Arch): Promise<void> {
  const cfg = `${build}.config-gen`;
  mkdirSync(cfg, { recursive: true });
  const key = await configKey(tree, fragments, arch);
  const stamp = join(cfg, 'config-key');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key && existsSync(join(cfg, '.config'))) {
    progress('kernel', 'config: Kconfig, fragments and compiler unchanged since the last build here');
  } else {
    rmSync(stamp, { force: true });
    const args = await makeArgs(tree, cfg, arch);
    progress('kernel', `config: tinyconfig + ${fragments.map((f) => relative(packageRoot, f)).join(' + ')}`);
    await make([...args, 'tinyconfig'], join(cfg, 'config.log'), 'tinyconfig');
    await execa(join(tree, 'scripts', 'kconfig', 'merge_config.sh'), ['-m', '-O', cfg, join(cfg, '.config'), ...fragments], { all: true });
    await make([...args, 'olddefconfig'], join(cfg, 'config.log'), 'olddefconfig');
    writeFileSync(stamp, key);
  }
  const dropped = droppedSymbols(requestedSymbols(fragments), join(cfg, '.config'));
  if (dropped.length) throw new Error(`kernel config: ${dropped.length} requested symbol(s) not as asked after olddefconfig:\n  ${dropped.join('\n  ')}`);
  const want = readFileSync(join(cfg, '.config'));
  const have = join(build, '.config');
  if (!existsSync(have) || !readFileSync(have).equals(want)) copyFileSync(join(cfg, '.config'), have);
}

// ---- entry ----

export async function buildKernel(o: KernelOptions = {}): Promise<KernelBuild> {
  const t0 = Date.now();
  const profile = o.profile ?? 'default';
  const arch = o.arch ?? DEFAULT_ARCH;
  const { cross, target, built } = ARCH[arch];
  const src = await kernelSource(o.kernelSrc);
  let base = readSeries(o.patches ?? defaultPatches);
  if (o.kernelSrc && seriesInTree(src, base)) {
    progress('kernel', `${src.dir} already holds the series (${base.patches.length} patches): building it as it is`);
    base = { name: `${base.name} (in the tree)`, patches: [], hash: `in-tree:${base.hash}`, files: [] };
  }
  const series = withExtra(base, o.extraPatches ?? []);
  const fragments = fragmentsFor(series, profile, arch);
  await ensureTools(['kernel']);
  const toolchain = (await execa(`${cross}gcc`, ['--version'])).stdout.split('\n')[0];
  const cacheKey = hashOf(['kernel-v1', src.identity, series.hash, ...fragments.flatMap((f) => [f.split('/').pop()!, readFileSync(f)]), profile, toolchain, ...(arch === 'arm64' ? [] : [arch])]).slice(0, 32);
  const entry = join(cacheDir('images'), cacheKey);
  const image = join(entry, target);
  const result = (cached: boolean): KernelBuild => ({
    image,
    arch,
    cacheKey,
    cached,
    seconds: (Date.now() - t0) / 1000,
    config: join(entry, 'config'),
  });
  if (usableEntry(entry, image, false)) return result(true);

  return withLock(`kernel-${src.id}`, async () => {
    if (usableEntry(entry, image)) return result(true);
    // Patched and vanilla builds keep separate trees and build dirs, so switching
    // between them never invalidates the other; mutants share the patched ones.
    const variant = series.name === 'none' ? 'vanilla' : 'patched';
    const tree = join(cacheDir('trees'), `${src.id}-${variant}`);
    const build = cacheDir('build', `${src.id}-${variant}-${profile}${arch === 'arm64' ? '' : `-${arch}`}`);
    await syncTree(src, series, tree);
    await configure(tree, fragments, build, arch);
    progress('kernel', `build: make -j${cpus().length} ${target} (${arch}) in ${build}`);
    const log = join(build, 'build.log');
    await make([...(await makeArgs(tree, build, arch)), `-j${cpus().length}`, target], log, 'build');
    await publishDir(entry, async (tmp) => {
      copyFileSync(join(build, built), join(tmp, target));
      copyFileSync(join(build, '.config'), join(tmp, 'config'));
      copyFileSync(log, join(tmp, 'build.log'));
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ arch, source: src.identity, series: series.name, patches: series.patches.map((p) => p.split('/').pop()), profile, toolchain, builtAt: new Date().toISOString() }, null, 2));
    });
    const r = result(false);
    progress('kernel', `${target} ${(statSync(r.image).size / 1048576).toFixed(1)} MiB in ${r.seconds.toFixed(0)} s: ${r.image}`);
    return r;
  });
}
