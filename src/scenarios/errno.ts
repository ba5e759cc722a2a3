// The §6.2 return-value and errno tables, and the permission rules of A1-A3:
// traces where the model's step vocabulary reaches, small functions where a
// second actor (another uid, a held-open fd, a second procfs) is needed.
import type { Step } from '../model/state.js';
import { SubjectError, type SubjectClient } from '../protocol/subject.js';
import { count, type Ctx } from '../suite/ctx.js';
import { ABI } from '../protocol/abi.js';
import { GuestError } from '../protocol/channel.js';
import { notDying, traceScenario } from '../suite/trace.js';
import { PreconditionError } from '../suite/failures.js';
import { type Feature } from '../protocol/kconfig.js';
import { type Scenario } from '../suite/types.js';

const base = (pages = 8): Step[] => [{ op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' }];
const pm = (advice: Extract<Step, { op: 'pmadvise' }>['advice'], vec: Extract<Step, { op: 'pmadvise' }>['vec'], flags = 0): Step => ({ op: 'pmadvise', target: 'P', advice, vec, flags });

/** A write from an unmapped user buffer: EFAULT, not EINVAL (§6.2, A3). */
const efault = (id: string, what: string, feature: Feature, path: (ctx: Ctx) => Promise<string>): Scenario => ({
  id,
  title: `a write to ${what} from an unmapped user buffer is EFAULT (§6.2, A3)`,
  needs: { feature },
  noEffect: 'an errno row: the buffer faults before anything is parsed',
  async run(ctx) {
    const target = await path(ctx);
    const w = await ctx.spawn();
    const fd = await w.open(target, 'wronly');
    await refused(ctx, 'write(fd, unmapped buffer, 4)', 'EFAULT', () => w.write(fd, 'fault'));
  },
});

const traces: Scenario[] = [
  traceScenario('madvise.einval.flags', 'process_madvise flags 2 is EINVAL on every kernel (§5.4 (1), A2)', {}, [...base(), pm('cold', [{ m: 'm' }], 2)]),
  traceScenario('madvise.range.cold', 'MADV_COLD with PMADV_FLAG_RANGE: 0 where the flag exists, EINVAL where not (A2)', {}, [...base(), pm('cold', null, 1), { op: 'verify', p: 'P' }]),
  traceScenario('madvise.range.skips-mlocked', 'PMADV_FLAG_RANGE PAGEOUT skips an mlocked VMA and pages out the rest (A2)', { feature: 'pmadv-range', swap: true }, [
    ...base(), { op: 'map', p: 'P', m: 'l', kind: 'anon-private', pages: 8, locked: true }, pm('pageout', null, 1), { op: 'verify', p: 'P' },
  ]),
  traceScenario('madvise.einval.vlen', 'process_madvise with 1025 iovecs is EINVAL (§5.4 (2))', {}, [...base(), pm('cold', Array.from({ length: 1025 }, () => ({ m: 'm', first: 0, count: 1 })))]),
  traceScenario('madvise.vlen-1024', 'process_madvise with 1024 iovecs advises them all (§5.4 (2))', {}, [...base(), pm('cold', Array.from({ length: 1024 }, () => ({ m: 'm', first: 0, count: 1 })))]),
  traceScenario('madvise.einval.unaligned', 'an unaligned first iovec is EINVAL (§5.4 (7))', {}, [...base(), pm('pageout', [{ m: 'm', offset: 8, len: 4096 }])]),
  traceScenario('madvise.partial.unaligned-second', 'an unaligned second iovec returns the bytes of the first (§5.4 (7), C.1 10d)', { swap: true }, [...base(), pm('pageout', [{ m: 'm', first: 0, count: 2 }, { m: 'm', first: 4, count: 1, offset: 8 }]), { op: 'verify', p: 'P' }]),
  traceScenario('madvise.enomem.hole', 'a hole in the range is ENOMEM, yet every mapped page is paged out (§5.4 (8), C.3 5)', { swap: true }, [
    ...base(), { op: 'unmap', p: 'P', span: { m: 'm', first: 3, count: 1 } }, pm('pageout', [{ m: 'm' }]), { op: 'verify', p: 'P' },
  ]),
  traceScenario('madvise.partial.hole-second', 'a hole in the second iovec returns the bytes of the first (§5.4 (8), C.1 10e)', { swap: true }, [
    ...base(), { op: 'unmap', p: 'P', span: { m: 'm', first: 5, count: 1 } }, pm('pageout', [{ m: 'm', first: 0, count: 2 }, { m: 'm', first: 4, count: 3 }]),
  ]),
  traceScenario('madvise.len-unrounded', 'the return is the iovec lengths as passed: len 5 gives 5 (C.1 10e)', {}, [...base(), pm('cold', [{ m: 'm', len: 5 }])]),
  traceScenario('madvise.len-zero', 'a zero-length iovec returns 0 (C.1 10e)', {}, [...base(), pm('pageout', [{ m: 'm', len: 0 }])]),
  traceScenario('madvise.einval.free', 'MADV_FREE is not a process_madvise advice: EINVAL (C.1 10a)', {}, [...base(), pm('free', [{ m: 'm' }])]),
  traceScenario('madvise.cold.keeps', 'MADV_COLD returns the length and leaves every page mapped (§6.1, §7.5)', {}, [...base(), pm('cold', [{ m: 'm' }]), { op: 'verify', p: 'P' }]),
  traceScenario('madvise.willneed.swapped', 'MADV_WILLNEED on swapped pages reads ahead but maps nothing (§6.1)', { swap: true }, [...base(), pm('pageout', [{ m: 'm' }]), pm('willneed', [{ m: 'm' }]), { op: 'verify', p: 'P' }]),
  traceScenario('madvise.dontneed.live', 'MADV_DONTNEED on a live target is EINVAL and zaps nothing (A2)', {}, [...base(), pm('dontneed', null, 1), pm('dontneed', [{ m: 'm' }]), { op: 'verify', p: 'P' }]),
  traceScenario('madvise.dontneed.dying-iovec', 'MADV_DONTNEED without the range flag on a dying target: its bytes, or ESRCH once the mm is gone (A2)', { feature: 'pmadv-range' }, [
    ...base(), { op: 'kill', p: 'P' }, pm('dontneed', [{ m: 'm' }]), { op: 'reap', p: 'P' },
  ]),
  traceScenario('madvise.esrch.reaped', 'process_madvise on a reaped process is ESRCH (§6.2)', {}, [...base(), { op: 'kill', p: 'P' }, { op: 'reap', p: 'P' }, pm('cold', [{ m: 'm' }])]),
  traceScenario('mrelease.einval.flags', 'process_mrelease with flags 1 is EINVAL (§2.5)', { feature: 'process-mrelease' }, [...base(), { op: 'mrelease', p: 'P', flags: 1 }]),
  traceScenario('mrelease.einval.live', 'process_mrelease on a live process is EINVAL (§2.5, C.1 11)', { feature: 'process-mrelease' }, [...base(), { op: 'mrelease', p: 'P' }, { op: 'verify', p: 'P' }]),
  traceScenario('mrelease.twice', 'process_mrelease twice after SIGKILL: 0 or ESRCH both times (§2.5, §7.4)', { feature: 'process-mrelease' }, [...base(), { op: 'kill', p: 'P' }, { op: 'mrelease', p: 'P' }, { op: 'mrelease', p: 'P' }, { op: 'reap', p: 'P' }]),
  traceScenario('madvise.dontneed.after-mrelease', 'MADV_DONTNEED with the range flag after process_mrelease reaped the target: 0, and it zaps again (process_mrelease does not set MMF_OOM_SKIP), or ESRCH (A2, §6.2 PM-DN)', { feature: 'pmadv-range' }, [
    ...base(), { op: 'kill', p: 'P' }, { op: 'mrelease', p: 'P' }, pm('dontneed', null, 1), { op: 'reap', p: 'P' },
  ]),
  traceScenario('madvise.dontneed.after-mrelease-iovec', 'MADV_DONTNEED with an iovec after process_mrelease, in the same batch: the bytes (process_mrelease does not set MMF_OOM_SKIP), or ESRCH (A2, §6.2 PM-DN)', { feature: 'pmadv-range' }, [
    ...base(), { op: 'kill', p: 'P' }, { op: 'mrelease', p: 'P' }, pm('dontneed', [{ m: 'm' }]), { op: 'reap', p: 'P' },
  ]),
  traceScenario('madvise.dontneed.dying-no-iovec', 'MADV_DONTNEED with no iovec on a dying target: 0 (nothing to advise), or ESRCH (A2, §5.4)', { feature: 'pmadv-range' }, [
    ...base(), { op: 'kill', p: 'P' }, pm('dontneed', []), { op: 'reap', p: 'P' },
  ]),
  traceScenario('madvise.dontneed.dying-len-zero', 'MADV_DONTNEED with one zero-length iovec on a dying target: 0, or ESRCH (A2, C.1 10e)', { feature: 'pmadv-range' }, [
    ...base(), { op: 'kill', p: 'P' }, pm('dontneed', [{ m: 'm', len: 0 }]), { op: 'reap', p: 'P' },
  ]),
  traceScenario('reclaim.locked-elsewhere', 'a file page mlocked by another process stays, and stays evictable once munlocked: then both reclaims drop it (§6.1 rows 6, 11)', { feature: 'proc-reclaim' }, [
    { op: 'spawn', p: 'P' }, { op: 'spawn', p: 'Q' },
    { op: 'map', p: 'P', m: 'm', kind: 'file-private', pages: 16, file: 'locked-elsewhere' }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'read' },
    // MAP_SHARED: Q's mlock locks the page cache pages themselves (a private mapping would populate COW copies)
    { op: 'map', p: 'Q', m: 'm', kind: 'file-shared', pages: 16, file: 'locked-elsewhere', keep: true, locked: true }, { op: 'touch', p: 'Q', span: { m: 'm' }, how: 'read' },
    { op: 'reclaim', target: 'P', mode: 'file' }, { op: 'verify', p: 'P' },
    { op: 'munlock', p: 'Q', m: 'm' }, { op: 'reclaim', target: 'Q', mode: 'file' }, { op: 'reclaim', target: 'P', mode: 'file' }, { op: 'verify', p: 'P' }, { op: 'verify', p: 'Q' },
  ]),
  // The mapping starts on a 64 kB boundary (traceScenario), so the range starts three pages into
  // a 64 kB folio and ends inside another; the split must leave page 0, the first folio's head, alone.
  traceScenario('reclaim.range.partial-mthp', "'ADDR SIZE' across 64 kB mTHP folios splits them and reclaims only the covered pages (§6.1 row 8b)", { feature: 'proc-reclaim', mthp: 64, swap: true }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 512 }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' },
    { op: 'reclaim', target: 'P', range: { m: 'm', first: 3, count: 22 } }, { op: 'verify', p: 'P' },
  ]),
  traceScenario('pageout.partial-mthp', 'MADV_PAGEOUT across 64 kB mTHP folios pages out only the covered pages (§6.1 row 8b)', { mthp: 64, swap: true }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 512 }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' },
    pm('pageout', [{ m: 'm', first: 3, count: 22 }]), { op: 'verify', p: 'P' },
  ]),
  traceScenario('mrelease.esrch.reaped', 'process_mrelease on a reaped process is ESRCH (§2.5)', { feature: 'process-mrelease' }, [...base(), { op: 'kill', p: 'P' }, { op: 'reap', p: 'P' }, { op: 'mrelease', p: 'P' }]),
  traceScenario('reclaim.range.partial-thp', "'ADDR SIZE' over half a THP splits it and reclaims only the covered pages (§6.1 row 8b)", { feature: 'proc-reclaim', thp: true, swap: true }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 512, thp: true }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' },
    { op: 'reclaim', target: 'P', range: { m: 'm', first: 0, count: 256 } }, { op: 'verify', p: 'P' },
  ]),
  traceScenario('pageout.partial-thp', 'MADV_PAGEOUT over half a THP splits it and pages out the covered pages (§6.1 row 8b)', { thp: true, swap: true }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 512, thp: true }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' },
    pm('pageout', [{ m: 'm', first: 256, count: 256 }]), { op: 'verify', p: 'P' },
  ]),
  traceScenario('reclaim.range.size-zero', "'ADDR 0' is a successful no-op (§6.2)", { feature: 'proc-reclaim' }, [...base(), { op: 'reclaim', target: 'P', range: { m: 'm', count: 0 } }, { op: 'verify', p: 'P' }]),
  traceScenario('reclaim.range.rounds-up', "'ADDR SIZE' rounds SIZE up to whole pages (A1)", { feature: 'proc-reclaim', swap: true }, [...base(), { op: 'reclaim', target: 'P', range: { m: 'm', first: 2, count: 2, extraBytes: 1 } }, { op: 'verify', p: 'P' }]),
  traceScenario('reclaim.munlock-then-reclaim', 'after munlock the pages are evictable again (§6.1 row 6)', { feature: 'proc-reclaim', swap: true }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 8, locked: true }, { op: 'reclaim', target: 'P', mode: 'anon' }, { op: 'munlock', p: 'P', m: 'm' }, { op: 'reclaim', target: 'P', mode: 'anon' }, { op: 'verify', p: 'P' },
  ]),
  traceScenario('reclaim.swapoff-brings-back', 'swapoff brings swapped pages back; reclaim without swap then keeps anon pages (§6.1 row 1)', { feature: 'proc-reclaim', swap: true }, [
    ...base(), { op: 'reclaim', target: 'P', mode: 'anon' }, { op: 'swap', on: false }, { op: 'reclaim', target: 'P', mode: 'anon' }, { op: 'swap', on: true }, { op: 'verify', p: 'P' },
  ]),
];

/** Expects a subject command to be refused with errno `code`. */
async function refused(ctx: Ctx, what: string, code: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    const r = await fn();
    ctx.expect(false, `${what}: expected ${code}, got success (${JSON.stringify(r)})`);
  } catch (e) {
    if (!(e instanceof SubjectError)) throw e;
    ctx.expect(e.code === code, `${what}: expected ${code}, got ${e.code}`);
  }
}

async function target(ctx: Ctx, uid?: number): Promise<{ t: SubjectClient & { pidfd: number }; addr: bigint }> {
  const t = await ctx.spawn(uid);
  const m = await t.map('anon-private', 8);
  await t.touch(m.id, 'write');
  return { t, addr: m.addr };
}

/**
 * Reclaiming all of RAM pushes other processes' memory out too: the agent's heap, and Node's own
 * files, which live in the initramfs's shmem. Their faults would swap it back in while later
 * scenarios measure system-wide counters (§6.3), so swapoff reads it all back now.
 */
async function swapBack(ctx: Ctx): Promise<void> {
  if (!ctx.swapOn) return;
  await ctx.guest.request('swap', { on: false });
  await ctx.guest.request('swap', { on: true });
}

const custom: Scenario[] = [
  {
    id: 'reclaim.perm.same-uid',
    title: 'a process may reclaim another of its own uid (A1 permission)',
    needs: { feature: 'proc-reclaim', swap: true },
    async run(ctx) {
      const { t, addr } = await target(ctx, 1000);
      const w = await ctx.spawn(1000);
      const fd = await w.open(`/proc/${t.pid}/reclaim`, 'wronly');
      const n = await w.write(fd, Buffer.from('anon'));
      ctx.expect(n === 4, `write 'anon' by uid 1000 to a uid-1000 process returned ${n}, expected 4`);
      const es = await ctx.pagemap(t.pid, addr, 8);
      ctx.expect(count(es, (e) => e.swapped) === 8, `${count(es, (e) => e.swapped)}/8 pages swapped after a same-uid reclaim`);
    },
  },
  {
    id: 'reclaim.perm.other-uid',
    title: 'another uid cannot open /proc/PID/reclaim: EACCES (§6.2)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const { t } = await target(ctx);
      const w = await ctx.spawn(65534);
      await refused(ctx, `open /proc/${t.pid}/reclaim by uid 65534`, 'EACCES', () => w.open(`/proc/${t.pid}/reclaim`, 'wronly'));
    },
  },
  {
    id: 'reclaim.perm.fd-passed',
    title: 'an fd opened by root and written after dropping to uid 65534 gets EACCES (A1 ptrace check)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const { t, addr } = await target(ctx);
      const w = await ctx.spawn();
      const fd = await w.open(`/proc/${t.pid}/reclaim`, 'wronly');
      await w.setuid(65534);
      await refused(ctx, 'write by uid 65534 through a root-opened fd', 'EACCES', () => w.write(fd, Buffer.from('all')));
      const es = await ctx.pagemap(t.pid, addr, 8);
      ctx.expect(count(es, (e) => e.present) === 8, `the refused write reclaimed ${8 - count(es, (e) => e.present)} pages`);
    },
  },
  {
    id: 'reclaim.perm.owner',
    title: "/proc/PID/reclaim is mode 0200 and owned by the process's uid (A1 registration)",
    needs: { feature: 'proc-reclaim' },
    noEffect: "a registration row: the file's mode and owner",
    async run(ctx) {
      const t = await ctx.spawn(1000);
      const st = await ctx.guest.request('stat', { path: `/proc/${t.pid}/reclaim` });
      ctx.expect((st.mode & 0o7777) === 0o200 && st.uid === 1000, `mode 0${(st.mode & 0o7777).toString(8)} uid ${st.uid}; expected 0200 uid 1000`);
    },
  },
  {
    id: 'reclaim.esrch.exited',
    title: 'a write after the process exited is ESRCH (§6.2)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const { t } = await target(ctx);
      const w = await ctx.spawn();
      const fd = await w.open(`/proc/${t.pid}/reclaim`, 'wronly');
      await ctx.signal(t.pidfd, ABI.SIGKILL);
      await ctx.guest.request('reap', { pid: t.pid });
      await refused(ctx, 'write to the fd of an exited process', 'ESRCH', () => w.write(fd, Buffer.from('all')));
    },
  },
  {
    id: 'reclaim.enoent.no-such-pid',
    title: 'no such pid: open fails with ENOENT (§6.2)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      ctx.expectOutcome(await ctx.reclaim(4194303, 'all'), 'ENOENT', 'write to /proc/4194303/reclaim');
    },
  },
  {
    id: 'reclaim.zombie-noop',
    title: 'a zombie has no mm: the write returns count and does nothing (§6.2)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "a task without an mm: count, and nothing to reclaim (§6.2)",
    async run(ctx) {
      const p = await ctx.spawn();
      const c = await ctx.fork(p);
      await c.exit(0).catch(() => undefined);
      await ctx.awaitState(c.pid, 'Z'); // its parent has not reaped it
      const r = await ctx.reclaim(c.pid, 'all');
      ctx.expect(r.ok && r.value === 3, `write 'all' to a zombie gave ${r.ok ? r.value : r.code}, expected 3`);
      await p.wait(c.pid);
    },
  },
  {
    id: 'reclaim.huge-zero-page',
    title: 'a THP region only read maps the huge zero page: reclaim, whole or over half of it, returns count and leaves it mapped (A1, §6.1 rows 1b, 8)',
    needs: { feature: 'proc-reclaim', thp: true },
    noEffect: "the huge zero page is skipped: count, nothing reclaimed, nothing logged",
    async run(ctx) {
      const p = await ctx.spawn();
      const pages = 1024; // two PMDs' worth, so one 2 MiB-aligned block lies inside
      const m = await p.map('anon-private', pages, { thp: true });
      await p.touch(m.id, 'read');
      const zero = async () => count(await ctx.pagemap(p.pid, m.addr, pages), (e) => e.present && !e.swapped);
      ctx.expect((await zero()) === pages, 'every page of the read-only region should be mapped (the zero page)');
      const dmesg = async () => (await ctx.guest.request('exec', { argv: ['dmesg'] })).stdout.split('\n');
      const logged = (await dmesg()).length;
      const half = `0x${m.addr.toString(16)} ${(pages / 4) * ctx.page}`;
      for (const text of ['anon', 'all', half]) {
        const r = await ctx.reclaim(p.pid, text);
        ctx.expect(r.ok && r.value === text.length, `write '${text}' gave ${r.ok ? r.value : r.code}, expected ${text.length} (count)`);
        const mapped = await zero();
        ctx.expect(mapped === pages, `after '${text}': ${mapped}/${pages} pages mapped; the zero pages are not on the LRU and stay (§6.1 row 1b)`);
      }
      const v = await p.verify();
      ctx.expect(v.badCount === 0, `${v.badCount} of ${v.checked} pages read back wrong`);
      // The huge zero page is skipped (process_reclaim.c:60): nothing else in the walk may warn.
      const said = (await dmesg()).slice(Math.max(0, logged - 1)).filter((l) => /huge zero page|WARNING|BUG/.test(l));
      ctx.expect(!said.length, `the kernel logged: ${said[0]}`);
    },
  },
  {
    id: 'madvise.dontneed.unstable',
    title: 'after MADV_DONTNEED with the range flag, the dying mm is unstable: reading a zapped page through /proc/PID/mem is EIO, not zeroes (A2, MMF_UNSTABLE)',
    needs: { feature: 'pmadv-range' },
    async run(ctx) {
      const p = await ctx.spawn();
      const m = await p.map('anon-private', 8);
      await p.touch(m.id, 'write');
      const status = { op: 'read', path: `/proc/${p.pid}/status` } as const;
      // One batch: the subject shares CPU 0 with the SCHED_FIFO agent and cannot exit meanwhile.
      const r = await ctx.guest.batch([
        { op: 'kill', pid: p.pid },
        status,
        { op: 'process_madvise', fd: p.pidfd, iovecs: null, advice: ABI.MADV_DONTNEED, flags: ABI.PMADV_FLAG_RANGE },
        { op: 'pread', path: `/proc/${p.pid}/mem`, offset: m.addr.toString(), length: ctx.page },
        status,
      ]);
      const text = (x: unknown) => (x instanceof GuestError ? undefined : (x as { text: string }).text);
      // Only named preconditions are tried again: the state letter, ESRCH (the mm went first) and
      // the mm gone by the read. Any other errno is the kernel's answer, and a wrong one.
      const pm = r[2];
      const why = notDying(text(r[1])) ?? (pm instanceof GuestError && pm.code === 'ESRCH' ? 'process_madvise gave ESRCH (the mm was gone)' : undefined) ?? (/VmSize/.test(text(r[4]) ?? '') ? undefined : 'its mm was gone by the read');
      if (why) throw new PreconditionError(`precondition not reached: the target should be dying with its mm, but ${why}`);
      ctx.expect(!(pm instanceof GuestError), `process_madvise(MADV_DONTNEED, PMADV_FLAG_RANGE) on a dying target gave ${(pm as GuestError).code}, expected 0 (A2)`);
      // set_bit(MMF_UNSTABLE) (0005, mm/madvise.c:1412); check_stable_address_space() fails the fault (mm/memory.c)
      const read = r[3];
      ctx.expect(read instanceof GuestError && read.code === 'EIO', `read of a zapped page: ${read instanceof GuestError ? read.code : `${Buffer.from((read as { base64: string }).base64, 'base64').length} bytes`}, expected EIO (MMF_UNSTABLE)`);
    },
  },
  {
    id: 'reclaim.kthread-noop',
    title: 'a kernel thread (kthreadd) has no mm: count, no-op (§6.2)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "a task without an mm: count, and nothing to reclaim (§6.2)",
    async run(ctx) {
      const r = await ctx.reclaim(2, 'all');
      ctx.expect(r.ok && r.value === 3, `write 'all' to /proc/2/reclaim gave ${r.ok ? r.value : r.code}, expected 3`);
    },
  },
  {
    id: 'reclaim.enoent.per-thread',
    title: '/proc/PID/task/TID/reclaim does not exist (A1: tgid_base_stuff only)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const t = await ctx.spawn();
      ctx.expectOutcome(await ctx.write(`/proc/${t.pid}/task/${t.pid}/reclaim`, 'all'), 'ENOENT', 'write to the per-thread file');
    },
  },
  {
    id: 'reclaim.einval.read',
    title: 'read() of /proc/PID/reclaim is EINVAL (A1: write handler only)',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const t = await ctx.spawn();
      ctx.expectOutcome(await ctx.attempt(() => ctx.read(`/proc/${t.pid}/reclaim`)), 'EINVAL', 'read by root');
    },
  },
  ...(
    [
      ['invisible', 'ENOENT'],
      ['noaccess', 'EPERM'],
    ] as const
  ).map(([mode, code]): Scenario => ({
    id: `reclaim.hidepid.${mode}`,
    title: `procfs hidepid=${mode}: another uid's open is ${code} (§6.2)`,
    needs: { feature: 'proc-reclaim' },
    noEffect: 'a permission row: the open is refused',
    async run(ctx) {
      const dir = `/tmp/proc-${mode}`;
      await ctx.guest.request('mount', { source: 'proc', target: dir, fstype: 'proc', options: `hidepid=${mode}` }).catch(() => undefined);
      const t = await ctx.spawn();
      const w = await ctx.spawn(65534);
      await refused(ctx, `open ${dir}/${t.pid}/reclaim by uid 65534`, code, () => w.open(`${dir}/${t.pid}/reclaim`, 'wronly'));
    },
  })),
  efault('reclaim.efault', '/proc/PID/reclaim', 'proc-reclaim', async (ctx) => `/proc/${(await ctx.spawn()).pid}/reclaim`),
  {
    id: 'madvise.esrch.zombie',
    title: 'a zombie has no mm: process_madvise and process_mrelease are ESRCH (§6.2, C.1 10f, 11)',
    needs: {},
    async run(ctx) {
      const p = await ctx.spawn();
      const c = await ctx.fork(p);
      const fd = await ctx.pidfd(c.pid);
      await c.exit(0).catch(() => undefined);
      await ctx.awaitState(c.pid, 'Z');
      ctx.expectOutcome(await ctx.processMadvise(fd, null, ABI.MADV_COLD, 0), 'ESRCH', 'process_madvise(MADV_COLD) on a zombie');
      if (ctx.features.interfaces.processMrelease) ctx.expectOutcome(await ctx.processMrelease(fd), 'ESRCH', 'process_mrelease on a zombie');
      await p.wait(c.pid);
    },
  },
  efault('shrinkmem.efault', '/dev/shrinkmem', 'shrinkmem', async () => '/dev/shrinkmem'),
  {
    id: 'madvise.ebadf',
    title: 'process_madvise and process_mrelease on fd -1 are EBADF (C.1 10b, 11)',
    needs: {},
    async run(ctx) {
      ctx.expectOutcome(await ctx.processMadvise(-1, [], ABI.MADV_COLD), 'EBADF', 'process_madvise(-1)');
      if (ctx.features.interfaces.processMrelease) ctx.expectOutcome(await ctx.processMrelease(-1), 'EBADF', 'process_mrelease(-1)');
    },
  },
  {
    id: 'madvise.perm.same-uid-eperm',
    title: 'process_madvise by uid 1000 on its own uid without CAP_SYS_NICE is EPERM (A2, C.1 10f)',
    needs: { asUser: true },
    async run(ctx) {
      const { t, addr } = await target(ctx, 1000);
      const fd = await ctx.asUser(1000, 'pidfd_open', { pid: t.pid });
      ctx.expect(fd.ok, `pidfd_open as uid 1000: ${fd.ok ? '' : fd.code}`);
      const r = await ctx.asUser(1000, 'process_madvise', { fd: fd.ok ? fd.value.fd : 0, iovecs: [[addr.toString(), '32768']], advice: ABI.MADV_COLD });
      ctx.expectOutcome(r, 'EPERM', 'process_madvise(MADV_COLD) by uid 1000 on a uid-1000 process');
    },
  },
  {
    id: 'pfnmap.vvar',
    title: '[vvar] (VM_PFNMAP): range reclaim skips it, MADV_PAGEOUT is EINVAL (§6.1 row 13)',
    needs: {},
    async run(ctx) {
      const t = await ctx.spawn();
      const maps = await ctx.read(`/proc/${t.pid}/maps`);
      const line = maps.split('\n').find((l) => l.endsWith('[vvar]'));
      ctx.expect(!!line, 'no [vvar] mapping in /proc/PID/maps');
      const [lo, hi] = line!.split(' ')[0]!.split('-').map((x) => BigInt(`0x${x}`));
      const len = Number(hi! - lo!);
      ctx.expectOutcome(await ctx.processMadvise(t.pidfd, [[lo!, len]], ABI.MADV_PAGEOUT), 'EINVAL', 'MADV_PAGEOUT over [vvar]');
      if (ctx.features.interfaces.procReclaim) {
        const text = `0x${lo!.toString(16)} ${len}`;
        const r = await ctx.reclaim(t.pid, text);
        ctx.expect(r.ok && r.value === text.length, `reclaim '${text}' over [vvar] gave ${r.ok ? r.value : r.code}, expected ${text.length}`);
      }
    },
  },
  {
    id: 'shrinkmem.perm.mode-0600',
    title: '/dev/shrinkmem is 0600: uid 65534 cannot open it (A3)',
    needs: { feature: 'shrinkmem' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const st = await ctx.guest.request('stat', { path: '/dev/shrinkmem' });
      ctx.expect((st.mode & 0o777) === 0o600, `mode 0${(st.mode & 0o777).toString(8)}, expected 0600`);
      const w = await ctx.spawn(65534);
      await refused(ctx, 'open /dev/shrinkmem by uid 65534', 'EACCES', () => w.open('/dev/shrinkmem', 'wronly'));
    },
  },
  {
    id: 'shrinkmem.perm.cap-sys-admin',
    title: 'a write without CAP_SYS_ADMIN through a root-opened fd is EPERM (A3)',
    needs: { feature: 'shrinkmem' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const w = await ctx.spawn();
      const fd = await w.open('/dev/shrinkmem', 'wronly');
      await w.setuid(65534);
      await refused(ctx, 'write after dropping to uid 65534', 'EPERM', () => w.write(fd, Buffer.from('1')));
    },
  },
  {
    id: 'shrinkmem.bounds',
    title: '/dev/shrinkmem frees at least the request, at most a quarter of the LRU past it, and reports what reclaim stole (A3)',
    needs: { feature: 'shrinkmem' },
    async run(ctx) {
      // Page cache to reclaim: a 16 MiB file read through a mapping and unmapped, so 4096 clean pages.
      // A kernel that reclaims everything takes all of them, more than the upper bound below allows.
      const s = await ctx.spawn();
      const m = await s.map('file-private', 4096, { path: `${ctx.scratch}/shrinkmem-bounds.dat` });
      await s.touch(m.id, 'read');
      await s.unmap(m.id);
      const before = await ctx.globals();
      const w = await ctx.write('/dev/shrinkmem', '2');
      ctx.expect(w.ok && w.value === 1, `write '2' gave ${w.ok ? w.value : w.code}, expected 1`);
      const freed = Number((await ctx.read('/dev/shrinkmem')).trim());
      const d = await ctx.globalsDelta(before);
      const kb = ctx.page / 1024;
      const req = (2 << 20) / ctx.page;
      const pages = (k: string) => (before.meminfo[k] ?? 0) / kb;
      const lru = pages('Active(file)') + pages('Inactive(file)') + pages('Active(anon)') + pages('Inactive(anon)');
      // do_try_to_free_pages() (mm/vmscan.c:6278) goes down to priority 0 before it returns short,
      // and 4096 clean file pages are there: at least the request. shrink_lruvec() (mm/vmscan.c:5708)
      // holds its own count against the whole target and scans lru >> priority, so the overshoot is
      // bounded by the last priority's scan; reaching priority 1 would take scans of half the LRU that
      // found fewer than `req` of those clean pages. Measured: 17 to 501 pages past 512.
      const upper = req + Math.floor(lru / 4) + 2 * 32;
      ctx.expect(freed >= req && freed <= upper, `freed ${freed} pages for a ${req}-page request; want ${req} to ${upper} (a quarter of the ${Math.round(lru)}-page LRU past it, A3)`);
      // What it reports is what reclaim stole (pgsteal_direct: only the writer reclaims in the idle
      // guest) plus slab pages freed on the way (flush_reclaim_state, mm/vmscan.c:290).
      const steal = d.vmstat.pgsteal_direct ?? 0;
      const slabFreed = Math.max(0, -(d.meminfo.Slab ?? 0) / kb);
      ctx.expect(freed >= steal && freed <= steal + slabFreed + 32, `freed ${freed} pages but pgsteal_direct rose by ${steal} and Slab fell by ${slabFreed} pages (A3)`);
      // MemFree is no witness: freed pages can sit in the per-CPU free lists,
      // which it does not count. The page cache shrinks first (A3).
      ctx.expect(d.meminfo.Cached! < 0, `Cached changed by ${d.meminfo.Cached} kB after freeing ${freed} pages`);
    },
  },
  {
    id: 'shrinkmem.cap',
    title: '/dev/shrinkmem: a request above RAM asks for all of RAM: it frees at least the clean unmapped page cache and at most total RAM (A3)',
    needs: { feature: 'shrinkmem' },
    depth: 'full', // 4 s: it reclaims all of RAM, then swapoff reads back what that pushed out
    async run(ctx) {
      const s = await ctx.spawn();
      const pool = 1024;
      const m = await s.map('file-private', pool, { path: `${ctx.scratch}/shrinkmem-cap.dat` });
      await s.touch(m.id, 'read');
      await s.unmap(m.id); // clean, unmapped, in the page cache
      const before = await ctx.globals();
      const kbPage = ctx.page / 1024;
      const total = (before.meminfo.MemTotal ?? 0) / kbPage;
      // What it can take: the four LRU lists and the slab (flush_reclaim_state, mm/vmscan.c:290).
      const reclaimable = ['Active(file)', 'Inactive(file)', 'Active(anon)', 'Inactive(anon)', 'Slab'].reduce((n, k) => n + (before.meminfo[k] ?? 0) / kbPage, 0);
      const upper = Math.min(total, Math.ceil(reclaimable) + 2 * 32);
      const w = await ctx.write('/dev/shrinkmem', '1048576');
      ctx.expect(w.ok && w.value === 7, `write '1048576' gave ${w.ok ? w.value : w.code}, expected 7`);
      const freed = Number((await ctx.read('/dev/shrinkmem')).trim());
      const d = await ctx.globalsDelta(before);
      await swapBack(ctx);
      // nr_pages = totalram_pages() (mm/shrinkmem.c:40-41): reclaim goes down to priority 0, which
      // scans the whole LRU, and clean unmapped page cache is what it takes first.
      ctx.expect(freed >= pool && freed <= upper, `freed ${freed} pages for a request above RAM; want ${pool} (the clean pool) to ${upper} (what the LRU lists and the slab held, give or take two batches of 32)`);
      const cachedPages = -(d.meminfo.Cached ?? 0) / (ctx.page / 1024);
      ctx.expect(cachedPages >= pool, `Cached fell by ${cachedPages} pages; the ${pool}-page clean pool alone should go (A3)`);
    },
  },
];

export const errors: Scenario[] = [...traces, ...custom];
