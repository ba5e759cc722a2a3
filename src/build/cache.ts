// Content-addressed cache under ~/.cache/reclaim-harness (or $RECLAIM_HARNESS_CACHE),
// with a lock per entry so concurrent runs never corrupt one.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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

/** Fills a temporary directory with fill(), then renames it to dest in one step. */
export async function publishDir(dest: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
