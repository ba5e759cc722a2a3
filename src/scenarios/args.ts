// process_madvise()'s arguments under each flag: the iovec pointer, vlen,
// each iovec, the pidfd and the advice, valid or not, and which check comes
// first. import_iovec() (lib/iov_iter.c) runs before the range branch, so
// the range flag changes only what a success returns.
import type { Mapping } from '../protocol/subject.js';
import { type Ctx } from '../suite/ctx.js';
import { ABI } from '../protocol/abi.js';
import type { Scenario } from '../suite/types.js';

/** An address no user pointer can have (arm64 and x86-64 kernel half): access_ok() fails. */
const KERNEL_PTR = 0xffff_8000_0000_0000n;
/** A user address nothing is mapped at (below mmap_min_addr). */
const LOW_PTR = 0x10n;
const PAGES = 4;

interface Row {
  name: string;
  title: string;
  /** the iovec pointer (a bigint), NULL, or iovecs over the target's mapping */
  vec: (m: Mapping, page: number) => bigint | null | Array<[bigint, number | bigint]>;
  /** the count passed, when it is not the number of iovecs */
  vlen?: bigint;
  /** a pidfd that is no fd */
  badFd?: boolean;
  advice?: number;
  /** extra flag bits beyond the one under test */
  moreFlags?: number;
  /** the errno, or 'bytes': the iovecs' bytes without the range flag, 0 with it */
  want: string | 'bytes';
  rule: string;
}

const one = (m: Mapping, page: number): Array<[bigint, number]> => [[m.addr, page]];

const ROWS: Row[] = [
  { name: 'null-vlen0', title: 'NULL vector, vlen 0: nothing to copy', vec: () => null, want: 'bytes', rule: 'lib/iov_iter.c:1398 (nr_segs 0)' },
  { name: 'wild-vlen0', title: 'an unmapped vector pointer with vlen 0 is never read', vec: () => LOW_PTR, want: 'bytes', rule: 'lib/iov_iter.c:1398' },
  { name: 'null-vlen1', title: 'NULL vector, vlen 1: EFAULT', vec: () => null, vlen: 1n, want: 'EFAULT', rule: 'lib/iov_iter.c:1359-1366 (copy_iovec_from_user)' },
  { name: 'kernel-vec', title: 'a kernel-address vector: EFAULT', vec: () => KERNEL_PTR, vlen: 1n, want: 'EFAULT', rule: 'lib/iov_iter.c:1359 (user_access_begin)' },
  { name: 'null-vlen1024', title: 'NULL vector, vlen 1024: read, EFAULT', vec: () => null, vlen: 1024n, want: 'EFAULT', rule: 'lib/iov_iter.c:1411' },
  { name: 'null-vlen1025', title: 'vlen 1025 is EINVAL before the vector is read', vec: () => null, vlen: 1025n, want: 'EINVAL', rule: 'lib/iov_iter.c:1400 (UIO_MAXIOV)' },
  { name: 'vlen-2pow32', title: 'vlen 2^32 is vlen 0 (import_iovec takes an unsigned int)', vec: () => null, vlen: 1n << 32n, want: 'bytes', rule: 'mm/madvise.c:1515, include/linux/uio.h (unsigned nr_segs)' },
  { name: 'vlen-2pow32-plus1', title: 'vlen 2^32+1 with one iovec is vlen 1', vec: one, vlen: (1n << 32n) + 1n, want: 'bytes', rule: 'mm/madvise.c:1515, include/linux/uio.h (unsigned nr_segs)' },
  { name: 'len-negative', title: 'an iovec length of 2^63 (negative as ssize_t): EINVAL', vec: (m) => [[m.addr, 1n << 63n]], want: 'EINVAL', rule: 'lib/iov_iter.c:1369-1372' },
  { name: 'base-kernel', title: 'one iovec based at a kernel address: EFAULT', vec: (_m, page) => [[KERNEL_PTR, page]], want: 'EFAULT', rule: 'lib/iov_iter.c:1531 (import_ubuf access_ok)' },
  { name: 'second-base-kernel', title: 'a kernel-address second iovec: EFAULT before any advice, not the first one\'s bytes', vec: (m, page) => [[m.addr, page], [KERNEL_PTR, page]], want: 'EFAULT', rule: 'lib/iov_iter.c:1474-1479' },
  { name: 'flags-first', title: 'an unknown flag bit is EINVAL before the vector is read', vec: () => null, vlen: 1n, moreFlags: 2, want: 'EINVAL', rule: 'mm/madvise.c:1510 (flags), before import_iovec at 1515' },
  { name: 'vec-before-pidfd', title: 'a bad vector is EFAULT before a bad pidfd', vec: () => null, vlen: 1n, badFd: true, want: 'EFAULT', rule: 'mm/madvise.c:1515 before pidfd_get_task at 1519' },
  { name: 'bad-pidfd', title: 'a bad pidfd with a good vector: EBADF', vec: one, badFd: true, want: 'EBADF', rule: 'mm/madvise.c:1519' },
  { name: 'vec-before-advice', title: 'a bad vector is EFAULT before a bad advice', vec: () => null, vlen: 1n, advice: 999, want: 'EFAULT', rule: 'mm/madvise.c:1515 before 1525' },
  { name: 'bad-advice', title: 'advice 999 with a good vector: EINVAL', vec: one, advice: 999, want: 'EINVAL', rule: 'mm/madvise.c:1525 (process_madvise_behavior_valid)' },
];

const FLAGS = [
  { suffix: 'noflag', flags: 0 },
  { suffix: 'range', flags: ABI.PMADV_FLAG_RANGE },
];

/** What the row gives under flags, for a mapping's vector. */
function expected(row: Row, flags: number, vec: ReturnType<Row['vec']>, vlen: bigint | undefined): string {
  if (row.want !== 'bytes') return row.want;
  if (flags & ABI.PMADV_FLAG_RANGE) return '0';
  // vlen is cut to 32 bits; a NULL or never-read pointer advises nothing.
  const n = Number((vlen ?? BigInt(Array.isArray(vec) ? vec.length : 0)) & 0xffff_ffffn);
  const iovecs = Array.isArray(vec) ? vec.slice(0, n) : [];
  return String(iovecs.reduce((sum, [, len]) => sum + BigInt(len), 0n));
}

export const args: Scenario[] = ROWS.flatMap((row) =>
  FLAGS.map(({ suffix, flags }) => ({
    id: `madvise.args.${row.name}.${suffix}`,
    title: `process_madvise(${suffix === 'range' ? 'PMADV_FLAG_RANGE' : 'flags 0'}): ${row.title} (${row.rule})`,
    needs: flags ? { feature: 'pmadv-range' as const } : {},
    noEffect: 'an argument row with MADV_COLD, which changes no page: the errno, or what a success returns',
    async run(ctx: Ctx) {
      const t = await ctx.spawn();
      const m = await t.map('anon-private', PAGES);
      await t.touch(m.id, 'write');
      const vec = row.vec(m, ctx.page);
      const f = flags | (row.moreFlags ?? 0);
      const got = await ctx.processMadvise(row.badFd ? -1 : t.pidfd, vec, row.advice ?? ABI.MADV_COLD, f, row.vlen);
      const want = expected(row, f, vec, row.vlen);
      const shown = got.ok ? String(got.value) : got.code;
      ctx.expect(shown === want, `process_madvise(${typeof vec === 'bigint' ? `0x${vec.toString(16)}` : vec === null ? 'NULL' : `${vec.length} iovec(s)`}, vlen ${row.vlen ?? 'as passed'}, flags ${f}): expected ${want}, got ${shown} (${row.rule})`);
      // Nothing failed is left advised: the pages are still there (COLD only deactivates).
      const bad = await t.verify();
      ctx.expect(bad.badCount === 0, `${bad.badCount} page(s) lost after the call`);
    },
  })),
);
