// The self-contained target bundle, for a board over ssh and a LAVA ramdisk:
//   <cache>/bundles/<key>/reclaim-bundle.tar.gz   Debian's Node with its libraries and loader,
//       the agent, the runner, the shim and the subject: a board needs no Node and no matching libc
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, hashOf, publishDir, withLock } from '../cache.js';
import { crossBuild } from '../crossbuild.js';
import { bundleAgent, bundleRunner } from './agent-bundle.js';
import { guestNode } from './image.js';
import { progress } from '../../log.js';

export interface TargetBundle {
  /** the gzipped tar; it unpacks into reclaim/ */
  tarball: string;
  key: string;
  bytes: number;
  /** bytes unpacked */
  unpacked: number;
  cached: boolean;
}

/** Bump when the layout changes. */
const FORMAT = 'target-bundle-v2';
const LOADER = 'ld-linux-aarch64.so.1';

/**
 * Debian's libnode loads five of its builtins from /usr/share/nodejs at start-up. In the bundle
 * that prefix reads /proc/self/fd/9/./ (the same length), and the launcher opens js/ as fd 9.
 */
const BUILTINS_PREFIX = '/usr/share/nodejs/';
const BUILTINS_HERE = '/proc/self/fd/9/./';
const BUILTINS = ['cjs-module-lexer/lexer.js', 'cjs-module-lexer/dist/lexer.js', 'undici/undici-fetch.js', 'acorn/dist/acorn.js', 'acorn-walk/dist/walk.js'];

/** The launcher: Debian's Node through its own loader and libraries, so the board's libc is never used. */
const LAUNCHER = `#!/bin/sh
# reclaim-harness: Debian's Node.js with its own loader and libraries.
# DIR/node DIR/runner.cjs [--filter RE] [--lava] ...  runs the suite on this machine.
d=$(cd "\${0%/*}" && pwd) || exit 1
export RECLAIM_NODE="$d/node" RECLAIM_SHIM="$d/reclaim_shim.node" RECLAIM_SUBJECT="$d/subject"
exec 9<"$d/js"
exec "$d/lib/${LOADER}" --library-path "$d/lib" "$d/node.bin" "$@"
`;

/** libnode with its builtins' directory moved to BUILTINS_HERE. */
function relocateBuiltins(lib: Buffer): Buffer {
  const from = Buffer.from(BUILTINS_PREFIX);
  const to = Buffer.from(BUILTINS_HERE);
  let n = 0;
  for (let at = lib.indexOf(from); at >= 0; at = lib.indexOf(from, at + 1)) (to.copy(lib, at), n++);
  if (n < BUILTINS.length) throw new Error(`target bundle: libnode names ${BUILTINS_PREFIX} ${n} times, expected at least ${BUILTINS.length}: a Node.js build this bundle does not know`);
  return lib;
}

/** The shared libraries an ELF file needs, found in dirs, and theirs, by soname. */
export async function elfClosure(elfs: string[], dirs: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const todo = [...elfs];
  while (todo.length) {
    const f = todo.pop()!;
    const { stdout } = await execa('readelf', ['-d', f]);
    for (const m of stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      const soname = m[1]!;
      if (found.has(soname)) continue;
      const at = dirs.map((d) => join(d, soname)).find((p) => existsSync(p));
      if (!at) throw new Error(`target bundle: ${f} needs ${soname}, which is not in ${dirs.join(' or ')}`);
      found.set(soname, realpathSync(at));
      todo.push(at);
    }
  }
  return found;
}

/** The arm64 target bundle, built once per content and cached. */
export async function targetBundle(): Promise<TargetBundle> {
  const node = await guestNode('arm64');
  const cross = await crossBuild('arm64');
  const agent = await bundleAgent();
  const runner = await bundleRunner();
  const key = hashOf([FORMAT, node.key, LAUNCHER, BUILTINS_HERE, ...BUILTINS, readFileSync(cross.shim), readFileSync(cross.subject), readFileSync(agent), readFileSync(runner)]).slice(0, 24);
  const dir = cacheDir('bundles', key);
  const tarball = join(dir, 'reclaim-bundle.tar.gz');
  const meta = join(dir, 'meta.json');
  const done = (cached: boolean): TargetBundle => ({ tarball, key, bytes: statSync(tarball).size, unpacked: (JSON.parse(readFileSync(meta, 'utf8')) as { unpacked: number }).unpacked, cached });
  if (existsSync(tarball)) return done(true);
  return withLock(`bundle-${key}`, async () => {
    if (existsSync(tarball)) return done(true);
    progress('bundle', 'writing the arm64 target bundle');
    await publishDir(dir, async (tmp) => {
      const root = join(tmp, 'reclaim');
      mkdirSync(join(root, 'lib'), { recursive: true });
      const libDirs = ['lib/aarch64-linux-gnu', 'usr/lib/aarch64-linux-gnu'].map((d) => join(node.root, d));
      const nodeBin = join(node.root, 'usr', 'bin', 'node');
      const libs = await elfClosure([nodeBin, cross.shim], libDirs);
      libs.set(LOADER, realpathSync(join(node.root, 'lib', LOADER)));
      for (const [soname, real] of libs) {
        if (soname.startsWith('libnode.so')) writeFileSync(join(root, 'lib', soname), relocateBuiltins(readFileSync(real)));
        else copyFileSync(real, join(root, 'lib', soname));
      }
      for (const b of BUILTINS) {
        mkdirSync(dirname(join(root, 'js', b)), { recursive: true });
        copyFileSync(join(node.root, BUILTINS_PREFIX, b), join(root, 'js', b));
      }
      const put = (name: string, from: string | Buffer, mode: number) => {
        if (typeof from === 'string') copyFileSync(from, join(root, name));
        else writeFileSync(join(root, name), from);
        chmodSync(join(root, name), mode);
      };
      put('node.bin', nodeBin, 0o755);
      put('node', Buffer.from(LAUNCHER), 0o755);
      put('reclaim_shim.node', cross.shim, 0o755);
      put('subject', cross.subject, 0o755);
      put('agent.cjs', agent, 0o644);
      put('runner.cjs', runner, 0o644);
      chmodSync(join(root, 'lib', LOADER), 0o755);
      put('BUNDLE', Buffer.from(`${key}\n`), 0o644);
      const unpacked = (await execa('du', ['-sb', root])).stdout.split('\t')[0];
      await execa('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', tmp, '-cf', join(tmp, 'reclaim-bundle.tar'), 'reclaim']);
      await execa('gzip', ['-9n', join(tmp, 'reclaim-bundle.tar')]);
      await execa('rm', ['-rf', root]);
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ key, node: node.packages, libs: [...libs.keys()].sort(), unpacked: Number(unpacked) }, null, 2));
    });
    const b = done(false);
    progress('bundle', `${(b.bytes / 1048576).toFixed(1)} MiB (${(b.unpacked / 1048576).toFixed(1)} MiB unpacked): ${tarball}`);
    return b;
  });
}
