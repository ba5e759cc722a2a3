// First scenarios: each interface once, with a simple expected outcome per page.
import type { SubjectClient, Mapping, MapKind } from '../protocol/subject.js';
import { count, type Ctx } from '../suite/ctx.js';
import { ABI } from '../protocol/abi.js';
import { adviceCheckedFirst } from '../model/versions.js';
import { traceScenario } from '../suite/trace.js';
import type { Scenario } from '../suite/types.js';

const PAGES = 32;

async function mapped(ctx: Ctx, s: SubjectClient, kind: MapKind, how: 'read' | 'write', pages = PAGES): Promise<Mapping> {
  const path = kind.startsWith('file') ? `${ctx.scratch}/${kind}-${s.pid}.dat` : undefined;
  const m = await s.map(kind, pages, path ? { path } : {});
  await s.touch(m.id, how);
  return m;
}

async function expectPages(ctx: Ctx, s: SubjectClient, m: Mapping, want: 'present' | 'swapped' | 'gone', what: string, first = 0, n = m.pages): Promise<void> {
  const es = await ctx.pagemap(s.pid, m.addr + BigInt(first * ctx.page), n);
  const got = { present: count(es, (e) => e.present), swapped: count(es, (e) => e.swapped), gone: count(es, (e) => !e.present && !e.swapped) }[want];
  ctx.expect(got === n, `${what}: ${got}/${n} pages ${want} (pages ${first}..${first + n - 1} of a ${m.kind} mapping at 0x${m.addr.toString(16)})`);
}

async function expectIntact(ctx: Ctx, s: SubjectClient): Promise<void> {
  const v = await s.verify();
  ctx.expect(v.badCount === 0, `data lost: ${v.badCount} of ${v.checked} pages wrong, e.g. ${JSON.stringify(v.bad.slice(0, 3), (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x))}`);
}

async function expectReclaimOk(ctx: Ctx, pid: number, text: string): Promise<void> {
  const r = await ctx.reclaim(pid, text);
  ctx.expectOutcome(r, 'ok', `write '${text}' to /proc/${pid}/reclaim`);
  ctx.expect(r.ok && r.value === text.length, `write '${text}' returned ${r.ok ? r.value : '-'} instead of ${text.length}`);
}

/** process_madvise(MADV_PAGEOUT) over a whole mapping: the full byte count, then every page `want`. */
function pageout(name: string, kind: MapKind, how: 'read' | 'write', want: 'swapped' | 'gone', what: string, needs: Scenario['needs']): Scenario {
  return {
    id: `madvise.pageout.${name}`,
    title: `process_madvise(MADV_PAGEOUT) ${what}`,
    needs,
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, kind, how);
      const fd = s.pidfd;
      const r = await ctx.processMadvise(fd, [[m.addr, m.bytes]], ABI.MADV_PAGEOUT);
      ctx.expect(r.ok && r.value === BigInt(m.bytes), `PAGEOUT returned ${r.ok ? r.value : r.code}, expected ${m.bytes}`);
      await expectPages(ctx, s, m, want, 'after PAGEOUT');
      await expectIntact(ctx, s);
    },
  };
}

export const basic: Scenario[] = [
  {
    id: 'reclaim.mode-0200',
    title: '/proc/PID/reclaim is write-only for its owner',
    needs: { feature: 'proc-reclaim' },
    noEffect: "a registration row: the file's mode and owner",
    async run(ctx) {
      const s = await ctx.spawn();
      const st = await ctx.guest.request('stat', { path: `/proc/${s.pid}/reclaim` });
      ctx.expect((st.mode & 0o7777) === 0o200, `mode is 0${(st.mode & 0o7777).toString(8)}, not 0200`);
    },
  },
  {
    id: 'reclaim.anon.private-swapped',
    title: "'anon' swaps out every written private anon page; contents survive",
    needs: { feature: 'proc-reclaim', swap: true },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write');
      const st0 = await ctx.status(s.pid);
      const before = await ctx.globals();
      const kb = (m.bytes / 1024) | 0;
      await expectReclaimOk(ctx, s.pid, 'anon');
      await expectPages(ctx, s, m, 'swapped', "after 'anon'");
      const vma = await ctx.smapsAt(s.pid, m.addr);
      ctx.expect(vma?.fields.Swap === kb && vma.fields.Rss === 0, `smaps of the VMA: Swap ${vma?.fields.Swap} kB, Rss ${vma?.fields.Rss} kB; expected ${kb} and 0`);
      // 'anon' may also swap the subject's own stack and data: at most every anon page it had (§5.7).
      const most = st0.RssAnon! + st0.VmSwap!;
      const vmSwap = (await ctx.status(s.pid)).VmSwap!;
      ctx.expect(vmSwap >= kb && vmSwap <= most, `VmSwap ${vmSwap} kB: expected from the ${kb} kB swapped to the ${most} kB of anon the subject had`);
      const d = await ctx.globalsDelta(before);
      const pages = st0.RssAnon! / (ctx.page / 1024);
      ctx.expect(d.vmstat.pswpout! >= m.pages && d.vmstat.pswpout! <= pages, `pswpout grew by ${d.vmstat.pswpout}, expected from the ${m.pages} patterned pages to the subject's ${pages} resident anon pages`);
      await expectIntact(ctx, s);
    },
  },
  {
    id: 'reclaim.anon.leaves-file',
    title: "'anon' leaves file-backed pages mapped",
    needs: { feature: 'proc-reclaim', swap: true },
    noEffect: "checks what the keyword leaves alone: the other kind's pages stay",
    async run(ctx) {
      const s = await ctx.spawn();
      const f = await mapped(ctx, s, 'file-private', 'read');
      await expectReclaimOk(ctx, s.pid, 'anon');
      await expectPages(ctx, s, f, 'present', "file pages after 'anon'");
    },
  },
  {
    id: 'reclaim.file.private-clean-dropped',
    title: "'file' drops clean private file pages; contents re-read from disk",
    needs: { feature: 'proc-reclaim' },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'file-private', 'read');
      await expectReclaimOk(ctx, s.pid, 'file');
      await expectPages(ctx, s, m, 'gone', "after 'file'");
      await expectIntact(ctx, s);
    },
  },
  {
    id: 'reclaim.file.leaves-anon',
    title: "'file' leaves private anon pages resident",
    needs: { feature: 'proc-reclaim' },
    noEffect: "checks what the keyword leaves alone: the other kind's pages stay",
    async run(ctx) {
      const s = await ctx.spawn();
      const a = await mapped(ctx, s, 'anon-private', 'write');
      await expectReclaimOk(ctx, s.pid, 'file');
      await expectPages(ctx, s, a, 'present', "anon pages after 'file'");
    },
  },
  {
    id: 'reclaim.all',
    title: "'all' swaps anon and drops clean file pages",
    needs: { feature: 'proc-reclaim', swap: true },
    async run(ctx) {
      const s = await ctx.spawn();
      const a = await mapped(ctx, s, 'anon-private', 'write');
      const f = await mapped(ctx, s, 'file-private', 'read');
      await expectReclaimOk(ctx, s.pid, 'all');
      await expectPages(ctx, s, a, 'swapped', "anon after 'all'");
      await expectPages(ctx, s, f, 'gone', "file after 'all'");
      await expectIntact(ctx, s);
    },
  },
  {
    id: 'reclaim.range.anon',
    title: "'ADDR SIZE' reclaims exactly the pages in the range",
    needs: { feature: 'proc-reclaim', swap: true },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write');
      const start = m.addr + BigInt(8 * ctx.page);
      await expectReclaimOk(ctx, s.pid, `0x${start.toString(16)} ${16 * ctx.page}`);
      await expectPages(ctx, s, m, 'present', 'before the range', 0, 8);
      await expectPages(ctx, s, m, 'swapped', 'inside the range', 8, 16);
      await expectPages(ctx, s, m, 'present', 'after the range', 24, 8);
      await expectIntact(ctx, s);
    },
  },
  {
    id: 'reclaim.range.file',
    title: "'ADDR SIZE' with an unrounded size drops the clean file pages it covers",
    needs: { feature: 'proc-reclaim' },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'file-private', 'read');
      await expectReclaimOk(ctx, s.pid, `${m.addr.toString()} ${4 * ctx.page + 1}`); // decimal ADDR; SIZE rounds up to 5 pages
      await expectPages(ctx, s, m, 'gone', 'inside the rounded range', 0, 5);
      await expectPages(ctx, s, m, 'present', 'after the range', 5, PAGES - 5);
      await expectIntact(ctx, s);
    },
  },
  {
    id: 'reclaim.einval.keyword-case',
    title: "'ALL' is not a keyword: EINVAL",
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const s = await ctx.spawn();
      ctx.expectOutcome(await ctx.reclaim(s.pid, 'ALL'), 'EINVAL', "write 'ALL'");
    },
  },
  {
    id: 'reclaim.einval.unaligned',
    title: 'an unaligned range address is EINVAL',
    needs: { feature: 'proc-reclaim' },
    noEffect: "an errno or permission row: the call is refused before any reclaim",
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write', 4);
      ctx.expectOutcome(await ctx.reclaim(s.pid, `0x${(m.addr + 8n).toString(16)} 4096`), 'EINVAL', 'unaligned ADDR');
    },
  },
  pageout('anon', 'anon-private', 'write', 'swapped', 'swaps private anon pages', { swap: true }),
  pageout('file', 'file-private', 'read', 'gone', 'drops clean private file pages', {}),
  {
    id: 'madvise.dontneed.live-einval',
    title: 'process_madvise(MADV_DONTNEED) on a live process is EINVAL',
    needs: {},
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write', 4);
      const fd = s.pidfd;
      ctx.expectOutcome(await ctx.processMadvise(fd, [[m.addr, m.bytes]], ABI.MADV_DONTNEED), 'EINVAL', 'DONTNEED on a live process');
      await expectPages(ctx, s, m, 'present', 'after the refused DONTNEED');
    },
  },
  {
    id: 'madvise.perm.other-uid-eacces',
    title: 'process_madvise (COLD, DONTNEED) from uid 65534 on a root process is EACCES',
    needs: { asUser: true },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write', 4);
      const fd = await ctx.asUser(65534, 'pidfd_open', { pid: s.pid });
      ctx.expect(fd.ok, `pidfd_open as uid 65534: ${fd.ok ? '' : fd.code}`);
      const iovecs = [[m.addr.toString(), String(m.bytes)]];
      // Before 6.13 the advice is checked before mm_access: DONTNEED is EINVAL where the kernel does not take it.
      const dontneed = ctx.features.interfaces.pmadvRange || !adviceCheckedFirst(ctx.features.kernel.release) ? 'EACCES' : 'EINVAL';
      for (const [name, advice, want] of [['COLD', ABI.MADV_COLD, 'EACCES'], ['DONTNEED', ABI.MADV_DONTNEED, dontneed]] as const) {
        const r = await ctx.asUser(65534, 'process_madvise', { fd: fd.ok ? fd.value.fd : 0, iovecs, advice });
        ctx.expectOutcome(r, want, `process_madvise(MADV_${name}) by uid 65534 on a root process`);
      }
    },
  },
  {
    id: 'madvise.range.pageout',
    title: 'PMADV_FLAG_RANGE with MADV_PAGEOUT returns 0 and swaps the whole address space',
    needs: { feature: 'pmadv-range', swap: true },
    async run(ctx) {
      const s = await ctx.spawn();
      const m = await mapped(ctx, s, 'anon-private', 'write');
      const fd = s.pidfd;
      const r = await ctx.processMadvise(fd, null, ABI.MADV_PAGEOUT, ABI.PMADV_FLAG_RANGE);
      ctx.expect(r.ok && r.value === 0n, `RANGE PAGEOUT returned ${r.ok ? r.value : r.code}, expected 0`);
      await expectPages(ctx, s, m, 'swapped', 'after RANGE PAGEOUT');
      await expectIntact(ctx, s);
    },
  },
  // After the kill, process_mrelease and the look at what it unmapped go in one batch (trace.ts).
  traceScenario('mrelease.after-sigkill', 'process_mrelease: EINVAL while alive; after SIGKILL, 0 with every page unmapped, or ESRCH (§2.5)', { feature: 'process-mrelease' }, [
    { op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm', kind: 'anon-private', pages: 256 }, { op: 'touch', p: 'P', span: { m: 'm' }, how: 'write' },
    { op: 'mrelease', p: 'P' }, { op: 'kill', p: 'P' }, { op: 'mrelease', p: 'P' }, { op: 'reap', p: 'P' },
  ]),
  {
    id: 'shrinkmem.write-read',
    title: '/dev/shrinkmem takes a size in MB and returns count; a read gives a number of pages, 0 after a write of 0',
    needs: { feature: 'shrinkmem' },
    noEffect: "the device's write and read format; what a write frees is shrinkmem.bounds",
    async run(ctx) {
      const w = await ctx.write('/dev/shrinkmem', '1\n');
      ctx.expect(w.ok && w.value === 2, `write '1\\n' gave ${w.ok ? w.value : w.code}, expected 2 (count)`);
      const text = await ctx.read('/dev/shrinkmem');
      ctx.expect(/^\d+\n$/.test(text), `read gave ${JSON.stringify(text)}, expected "<pages>\\n"`);
      // 0 MB reclaims nothing, and the count is the last write's: 0.
      const z = await ctx.write('/dev/shrinkmem', '0');
      ctx.expect(z.ok && z.value === 1, `write '0' gave ${z.ok ? z.value : z.code}, expected 1 (count)`);
      const after = await ctx.read('/dev/shrinkmem');
      ctx.expect(after === '0\n', `read after writing 0 gave ${JSON.stringify(after)}, expected "0\\n" (A3: the pages the last write freed)`);
    },
  },
];
