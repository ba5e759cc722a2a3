// /proc/PID/pagemap entries, decoded (Documentation/admin-guide/mm/pagemap.rst).
import { closeSync, openSync, readSync } from 'node:fs';

export interface PagemapEntry {
  raw: bigint;
  present: boolean;
  swapped: boolean;
  /** file-backed page or shared anon (bit 61) */
  fileShared: boolean;
  /** page exclusively mapped (bit 56) */
  exclusive: boolean;
  softDirty: boolean;
  uffdWp: boolean;
  /** PFN when present (0 without CAP_SYS_ADMIN) */
  pfn?: bigint;
  /** swap type and offset when swapped (0 without CAP_SYS_ADMIN) */
  swapType?: number;
  swapOffset?: bigint;
}

const bit = (v: bigint, n: number) => ((v >> BigInt(n)) & 1n) === 1n;
const PFN_MASK = (1n << 55n) - 1n;

export function decodePagemap(raw: bigint): PagemapEntry {
  const e: PagemapEntry = {
    raw,
    present: bit(raw, 63),
    swapped: bit(raw, 62),
    fileShared: bit(raw, 61),
    exclusive: bit(raw, 56),
    softDirty: bit(raw, 55),
    uffdWp: bit(raw, 57),
  };
  if (e.present) e.pfn = raw & PFN_MASK;
  else if (e.swapped) {
    e.swapType = Number(raw & 0x1fn);
    e.swapOffset = (raw & PFN_MASK) >> 5n;
  }
  return e;
}

/** Fills buf from position on (less at the end of the file): the bytes read. */
function preadAll(fd: number, buf: Buffer, position: bigint): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + BigInt(got));
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * `count` 64-bit entries from index `first` of a /proc array file: pagemap
 * (indexed by virtual page), kpagecount and kpageflags (indexed by PFN).
 */
export function readEntries(path: string, first: bigint, count: number): bigint[] {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(count * 8);
    const got = preadAll(fd, buf, first * 8n);
    const out: bigint[] = [];
    for (let i = 0; i + 8 <= got; i += 8) out.push(buf.readBigUInt64LE(i));
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Indices this close are read in one pread, the ones between them with them. */
const RUN_GAP = 16n;

/**
 * The 64-bit entries at each of `indices` (e.g. PFNs) of a /proc array file, with one open and
 * one pread per run of nearby indices (a mapping's PFNs mostly come in runs). An entry past the
 * end of the file reads 0.
 */
export function readEntriesAt(path: string, indices: readonly bigint[]): bigint[] {
  if (!indices.length) return [];
  const sorted = [...new Set(indices)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const value = new Map<bigint, bigint>();
  const fd = openSync(path, 'r');
  try {
    for (let k = 0; k < sorted.length; ) {
      let j = k;
      while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= RUN_GAP) j++;
      const first = sorted[k]!;
      const count = Number(sorted[j]! - first) + 1;
      const buf = Buffer.alloc(count * 8);
      const got = preadAll(fd, buf, first * 8n);
      for (let i = k; i <= j; i++) {
        const off = Number(sorted[i]! - first) * 8;
        value.set(sorted[i]!, off + 8 <= got ? buf.readBigUInt64LE(off) : 0n);
      }
      k = j + 1;
    }
  } finally {
    closeSync(fd);
  }
  return indices.map((i) => value.get(i)!);
}

/** Decoded pagemap entries for `pages` pages from virtual address `addr` of process `pid`. */
export function readPagemap(pid: number | 'self', addr: bigint, pages: number, pageSize: number): PagemapEntry[] {
  return readEntries(`/proc/${pid}/pagemap`, addr / BigInt(pageSize), pages).map(decodePagemap);
}
