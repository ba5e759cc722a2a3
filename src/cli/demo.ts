// Host demo of the shim: process_madvise(MADV_PAGEOUT) on a subject's memory,
// observed through pagemap, on this machine's own kernel.
import { mkdtempSync, rmSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { defaultSubjectPath, loadNative, packageRoot } from '../native.js';
import { readPagemap } from '../agent/pagemap.js';
import { Subject } from '../agent/subject.js';
import { type MapKind } from '../protocol/subject.js';

export async function hostDemo(): Promise<boolean> {
  const shim = loadNative();
  const c = shim.constants;
  console.log(`HOST DEMO: no guest yet, so this runs the shim against the host kernel (Linux ${release()}, ${process.arch}), not a patched arm64 guest.`);
  const scratch = mkdtempSync(join(packageRoot, 'build', 'demo-'));
  const cpu = shim.schedGetaffinity(0)[0]!;
  shim.schedSetaffinity(0, [cpu]); // reclaimer and subject share a CPU: no stray per-CPU LRU batches (spec §7.1)
  const subject = await Subject.spawn(defaultSubjectPath);
  shim.schedSetaffinity(subject.pid, [cpu]);
  const pidfd = shim.pidfdOpen(subject.pid);
  let ok = true;
  try {
    const cases: Array<[MapKind, string | undefined, 'read' | 'write']> = [
      ['file-private', join(scratch, 'data'), 'read'],
      ['anon-private', undefined, 'write'],
    ];
    for (const [kind, path, how] of cases) {
      const m = await subject.map(kind, 16, path ? { path } : {});
      await subject.touch(m.id, how);
      const present = () => readPagemap(subject.pid, m.addr, m.pages, shim.pageSize).filter((e) => e.present).length;
      const before = present();
      const ret = shim.processMadvise(pidfd, [{ addr: m.addr, len: BigInt(m.bytes) }], c.MADV_PAGEOUT, 0);
      const after = present();
      const v = await subject.verify(m.id);
      console.log(`  ${kind.padEnd(13)} PAGEOUT returned ${ret} bytes; present pages ${before} -> ${after}; verify: ${v.badCount} bad of ${v.checked}`);
      ok &&= ret === BigInt(m.bytes) && v.badCount === 0;
    }
    try {
      shim.processMadvise(pidfd, null, c.MADV_PAGEOUT, c.PMADV_FLAG_RANGE);
      console.log('  PMADV_FLAG_RANGE accepted: this kernel carries the reclaim-harness port');
    } catch (e) {
      console.log(`  PMADV_FLAG_RANGE: ${(e as Error).message} (expected on an unpatched kernel)`);
    }
  } finally {
    shim.close(pidfd);
    await subject.exit();
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(ok ? 'HOST DEMO: ok' : 'HOST DEMO: unexpected results above');
  return ok;
}
