// Shared test fixtures: a pinned reclaimer, subjects that always exit, an ext4 scratch dir.
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { defaultSubjectPath, loadNative, packageRoot } from '../../src/native.js';
import { Subject } from '../../src/agent/subject.js';

export const shim = loadNative();
export const C = shim.constants;
export const PAGE = shim.pageSize;
const EXT4_SUPER_MAGIC = 0xef53;

/**
 * Pins this test process and later subjects to one CPU, so pages a subject
 * faults in sit in the per-CPU LRU batch the reclaimer drains (spec §7.1).
 */
export const CPU = shim.schedGetaffinity(0)[0]!;
shim.schedSetaffinity(0, [CPU]);

export async function spawnSubject(t: TestContext, options: Parameters<typeof Subject.spawn>[1] = {}, binary = defaultSubjectPath): Promise<Subject> {
  const s = await Subject.spawn(binary, options);
  shim.schedSetaffinity(s.pid, [CPU]);
  t.after(() => {
    if (s.child && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });
  return s;
}

/** A fresh directory on ext4, or undefined with the filesystem it found instead. */
export function ext4Scratch(t: TestContext): { dir?: string; fsType: string } {
  const base = join(packageRoot, 'build');
  mkdirSync(base, { recursive: true });
  const type = statfsSync(base).type;
  if (type !== EXT4_SUPER_MAGIC) return { fsType: `0x${type.toString(16)}` };
  const dir = mkdtempSync(join(base, 'scratch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, fsType: 'ext4' };
}

/** The error code a call throws, or 'ok'. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

export const iov = (addr: bigint, pages: number) => ({ addr, len: BigInt(pages * PAGE) });
