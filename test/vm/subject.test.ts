// The subject workload: its command set and its data-loss detector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SubjectError } from '../../src/protocol/subject.js';
import { readPagemap } from '../../src/agent/pagemap.js';
import { PAGE, ext4Scratch, spawnSubject } from '../helpers/fixtures.js';

/** Reads or writes a page of another process behind its back. */
function procMem(pid: number, addr: bigint, data?: Buffer): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, data ? 'r+' : 'r');
  try {
    const buf = data ?? Buffer.alloc(PAGE);
    if (data) writeSync(fd, data, 0, data.length, Number(addr)); // user addresses fit in 2^53
    else readSync(fd, buf, 0, PAGE, Number(addr));
    return buf;
  } finally {
    closeSync(fd);
  }
}

test('verify names a zeroed, a stale and a misplaced page written through /proc/PID/mem', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 8);
  await s.touch(m.id, 'write');
  const page = (i: number) => m.addr + BigInt(i * PAGE);
  assert.equal((await s.verify()).badCount, 0);
  const gen1 = procMem(s.pid, page(2));
  const page3 = procMem(s.pid, page(3));
  await s.touch(m.id, 'write', { first: 2, count: 1 }); // page 2 is now generation 2
  procMem(s.pid, page(1), Buffer.alloc(PAGE)); // lost: zero
  procMem(s.pid, page(2), gen1); // stale: generation 1 again
  procMem(s.pid, page(5), page3); // misplaced: page 3's data
  const v = await s.verify();
  assert.equal(v.checked, 8);
  assert.equal(v.badCount, 3);
  assert.deepEqual(
    v.bad.map((b) => [b.page, b.addr, b.expect, b.found.replace(/^tag:0x[0-9a-f]+\//, '')]),
    [
      [1, page(1), 'gen:1', 'zero'],
      [2, page(2), 'gen:2', 'page:2/gen:1'],
      [5, page(5), 'gen:1', 'page:3/gen:1'],
    ],
  );
  const one = procMem(s.pid, page(6));
  one[100] ^= 0xff; // a single flipped byte
  procMem(s.pid, page(6), one);
  assert.deepEqual((await s.verify(m.id)).bad.map((b) => [b.page, b.found]).at(-1), [6, 'garbage']);
  await s.exit();
});

test('verify knows which pages may legitimately read zero', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 8);
  await s.touch(m.id, 'read'); // never written: zero is right
  assert.equal((await s.verify()).badCount, 0);
  await s.touch(m.id, 'write');
  await s.madvise(m.id, 'dontneed', { first: 0, count: 2 }); // private anon: back to zero
  await s.madvise(m.id, 'free', { first: 2, count: 2 }); // lazyfree: zero or kept
  procMem(s.pid, m.addr + BigInt(2 * PAGE), Buffer.alloc(PAGE)); // as if the kernel discarded page 2
  assert.equal((await s.verify()).badCount, 0);
  procMem(s.pid, m.addr + BigInt(4 * PAGE), Buffer.alloc(PAGE)); // page 4 was not freed: a loss
  assert.deepEqual((await s.verify()).bad.map((b) => [b.page, b.found]), [[4, 'zero']]);
  await s.exit();
});

test('fork: both keep the mappings; private pages diverge, shared pages do not', async (t) => {
  const parent = await spawnSubject(t);
  const priv = await parent.map('anon-private', 4);
  const shared = await parent.map('anon-shared', 4);
  await parent.touch(priv.id, 'write');
  await parent.touch(shared.id, 'write');
  const child = await parent.fork();
  assert.notEqual(child.pid, parent.pid);
  const ci = await child.info();
  assert.equal(ci.ppid, parent.pid);
  assert.deepEqual(ci.maps.map((x) => [x.id, x.kind, x.addr]), [[priv.id, 'anon-private', priv.addr], [shared.id, 'anon-shared', shared.addr]]);
  // COW-shared after fork: same PFN in both, not exclusive.
  const [pp] = readPagemap(parent.pid, priv.addr, 1, PAGE);
  const [cp] = readPagemap(child.pid, priv.addr, 1, PAGE);
  assert.ok(pp!.present && cp!.present && pp!.pfn === cp!.pfn && !pp!.exclusive);
  await child.touch(priv.id, 'write'); // child's copy only
  await child.touch(shared.id, 'write'); // seen by both
  assert.equal((await parent.verify()).badCount, 0);
  assert.equal((await child.verify()).badCount, 0);
  const [pp2] = readPagemap(parent.pid, priv.addr, 1, PAGE);
  const [cp2] = readPagemap(child.pid, priv.addr, 1, PAGE);
  assert.notEqual(pp2!.pfn, cp2!.pfn);
  await child.exit(7);
  assert.deepEqual(await parent.wait(child.pid), { exit: 7, signal: undefined });
  await parent.exit();
});

test('every mapping kind maps, touches and verifies; options reach the VMA', async (t) => {
  const { dir, fsType } = ext4Scratch(t);
  if (!dir) return t.skip(`build/ is on filesystem ${fsType}, not ext4`);
  const s = await spawnSubject(t);
  for (const [kind, path] of [['anon-private'], ['anon-shared'], ['memfd'], ['file-private', 'p.dat'], ['file-shared', 's.dat']] as const) {
    const m = await s.map(kind, 4, path ? { path: join(dir, path) } : {});
    assert.equal(m.bytes, 4 * PAGE);
    assert.equal(await s.touch(m.id, 'write'), 4);
  }
  const locked = await s.map('anon-private', 4, { locked: true });
  const status = (await import('node:fs')).readFileSync(`/proc/${s.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`VmLck:\\s+${(4 * PAGE) / 1024} kB`));
  await s.munlock(locked.id);
  const thp = await s.map('anon-private', 512, { thp: true });
  assert.equal(thp.addr % (2n << 20n), 0n, 'thp mapping is PMD-aligned');
  const smaps = (await import('node:fs')).readFileSync(`/proc/${s.pid}/smaps`, 'utf8');
  const vma = smaps.split(/\n(?=[0-9a-f]+-)/).find((b) => b.startsWith(thp.addr.toString(16)));
  assert.match(vma ?? '', /VmFlags:.* hg/, 'MADV_HUGEPAGE set on the VMA');
  for (const align of [65536, 1 << 20]) assert.equal((await s.map('anon-private', 3, { align })).addr % BigInt(align), 0n, `align=${align}`);
  await s.msync(4);
  const v = await s.verify();
  assert.deepEqual([v.checked, v.badCount], [5 * 4 + 4 + 512 + 6, 0]);
  await s.exit();
});

test('refused commands carry an errno name', async (t) => {
  const s = await spawnSubject(t);
  await assert.rejects(s.touch(99, 'read'), (e: SubjectError) => e.code === 'EUSAGE');
  await assert.rejects(s.map('file-private', 1, { path: '/nonexistent/dir/f' }), (e: SubjectError) => e.code === 'ENOENT' && e.errno === 2);
  const m = await s.map('anon-private', 2);
  await assert.rejects(s.madvise(m.id, 'free', { first: 1, count: 5 }), (e: SubjectError) => e.code === 'EUSAGE');
  await assert.rejects(s.map('anon-private', 1, { align: 3000 }), (e: SubjectError) => e.code === 'EUSAGE' && /power of two/.test(e.message));
  await s.exit();
});

test('open, write, close and setuid: a root-opened fd used after dropping privileges', async (t) => {
  const s = await spawnSubject(t);
  const fd = await s.open('/proc/self/comm', 'wronly');
  assert.equal(await s.write(fd, Buffer.from('subj')), 4);
  await s.setuid(65534);
  // The fd keeps working for a plain file; a fresh open is now refused.
  assert.equal(await s.write(fd, Buffer.from('x')), 1);
  await assert.rejects(s.open('/proc/1/environ', 'rdonly'), (e: SubjectError) => e.code === 'EACCES');
  await s.closeFd(fd);
  await assert.rejects(s.write(fd, Buffer.from('x')), (e: SubjectError) => e.code === 'EBADF');
  await s.exit();
});
