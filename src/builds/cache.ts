// Content-addressed cache under ~/.cache/reclaim-harness (or $RECLAIM_HARNESS_CACHE), with a
// lock per entry so concurrent runs never corrupt one. Each entry is published whole with its
// manifest (every file's size and sha256), and checked against it when it is used.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { progress } from '../log.js';

export function cacheRoot(): string {
  const base = process.env.RECLAIM_HARNESS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'reclaim-harness');
  mkdirSync(base, { recursive: true });
  return base;
}

export function cacheDir(...parts: string[]): string {
  const d = join(cacheRoot(), ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** sha256 over the given parts, each length-prefixed so boundaries count. */
export function hashOf(parts: ReadonlyArray<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${Buffer.byteLength(p)}:`).update(p);
  return h.digest('hex');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs fn while holding the lock `name`: a directory made atomically with
 * mkdir, holding the owner's pid. A lock whose owner died is taken over.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(cacheDir('locks'), `${name}.lock`);
  let said = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        /* the owner is between mkdir and writing its pid */
      }
      if (owner && !alive(owner)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (!said) progress('cache', `waiting for lock ${name} (held by pid ${owner || '?'})`);
      said = true;
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fills a temporary directory with fill(), writes its manifest, then renames it to dest in one step. */
export async function publishDir(dest: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await fill(tmp);
    writeFileSync(join(tmp, MANIFEST), JSON.stringify(manifestOf(tmp)));
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw diskFull(e, tmp) ?? e;
  }
}

const MANIFEST = '.manifest.json';
type Manifest = Record<string, string>;

/** Every file under dir (but the manifest): 'size sha256' for a file, '-> target' for a link. */
function manifestOf(dir: string, root = dir, out: Manifest = {}): Manifest {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = relative(root, p);
    if (rel === MANIFEST) continue;
    if (e.isDirectory()) manifestOf(p, root, out);
    else if (e.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
    else out[rel] = `${statSync(p).size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

/** A manifest line for people: a link's target, or a file's size and hash. */
const said = (v: string) => (v.startsWith('->') ? v : `${v.split(' ')[0]} bytes, sha256 ${v.split(' ')[1]!.slice(0, 12)}`);

/** What is wrong with a published entry, or undefined: it holds what its manifest says, no more and no less. */
export function entryProblem(dir: string): string | undefined {
  let want: Manifest;
  try {
    want = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return 'it has no manifest (made before entries were checked, or cut short)';
  }
  const have = manifestOf(dir);
  for (const [f, v] of Object.entries(want)) {
    if (!(f in have)) return `${f} is missing`;
    if (have[f] !== v) return `${f} differs from what was published (${said(v)}, now ${said(have[f]!)})`;
  }
  const extra = Object.keys(have).filter((f) => !(f in want));
  return extra.length ? `it holds files it was not published with: ${extra.slice(0, 3).join(', ')}` : undefined;
}

/**
 * Whether the entry dir, holding `main`, can be used as it is. Asked again under the entry's
 * lock (say), a corrupt one gets a line that says why; the caller builds it again, and
 * publishDir replaces it whole.
 */
export function usableEntry(dir: string, main: string, say = true): boolean {
  if (!existsSync(main)) return false;
  const p = entryProblem(dir);
  if (p && say) progress('cache', `${dir} is corrupt (${p}): building it again`);
  return !p;
}

/** A full disk, said as such: the directory and what was being written; undefined for other errors. */
export function diskFull(e: unknown, where: string): Error | undefined {
  const x = e as { code?: string; message?: string };
  if (x.code !== 'ENOSPC' && !/No space left on device|ENOSPC/.test(x.message ?? '')) return undefined;
  return Object.assign(new Error(`no space left on the disk of ${where} while writing the cache entry ${relative(cacheRoot(), where).replace(/\.tmp-\d+$/, '')}: free some space, or set RECLAIM_HARNESS_CACHE to a directory on a larger disk`), { code: 'ENOSPC' });
}
