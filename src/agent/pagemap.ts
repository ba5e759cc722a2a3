// /proc/PID/pagemap read on the target, in runs; decoding lives in protocol/pagemap.ts.
import { closeSync, openSync, readSync } from 'node:fs';
import { decodePagemap, type PagemapEntry } from '../protocol/pagemap.js';

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
 * `count` raw 64-bit entries (little-endian) from index `first` of a /proc array file: pagemap
 * (indexed by virtual page), kpagecount and kpageflags (indexed by PFN). Fewer at the end of the file.
 */
export function readRaw(path: string, first: number, count: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(count * 8);
    const got = preadAll(fd, buf, BigInt(first) * 8n);
    return buf.subarray(0, got - (got % 8));
  } finally {
    closeSync(fd);
  }
}

export function readEntries(path: string, first: bigint, count: number): bigint[] {
  return entriesOf(readRaw(path, Number(first), count));
}

/** The entries of a raw buffer. */
export const entriesOf = (buf: Buffer): bigint[] => Array.from({ length: buf.length / 8 }, (_v, i) => buf.readBigUInt64LE(i * 8));

/** Indices this close are read in one pread, the ones between them with them. */
const RUN_GAP = 16;

/**
 * The raw entries at each of `indices` (e.g. PFNs, below 2^53) of a /proc array file, entry k at
 * byte 8k, with one open and one pread per run of nearby indices (a mapping's PFNs mostly come
 * in runs). An entry past the end of the file reads 0.
 */
export function readRawAt(path: string, indices: readonly number[]): Buffer {
  const out = Buffer.alloc(indices.length * 8);
  if (!indices.length) return out;
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const at = new Map<number, Buffer>();
  const fd = openSync(path, 'r');
  try {
    for (let k = 0; k < sorted.length; ) {
      let j = k;
      while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= RUN_GAP) j++;
      const first = sorted[k]!;
      const buf = Buffer.alloc((sorted[j]! - first + 1) * 8);
      const got = preadAll(fd, buf, BigInt(first) * 8n);
      for (let i = k; i <= j; i++) {
        const off = (sorted[i]! - first) * 8;
        if (off + 8 <= got) at.set(sorted[i]!, buf.subarray(off, off + 8));
      }
      k = j + 1;
    }
  } finally {
    closeSync(fd);
  }
  indices.forEach((x, n) => at.get(x)?.copy(out, n * 8));
  return out;
}

export function readEntriesAt(path: string, indices: readonly bigint[]): bigint[] {
  return entriesOf(readRawAt(path, indices.map(Number)));
}

/** The PFN of each raw pagemap entry (present, bits 0-54), or 0 where none shows. */
export function pfnsOf(raw: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 8 <= raw.length; i += 8) {
    const hi = raw.readUInt32LE(i + 4);
    out.push(hi >>> 31 ? (hi & 0x7fffff) * 2 ** 32 + raw.readUInt32LE(i) : 0);
  }
  return out;
}

/** Decoded pagemap entries for `pages` pages from virtual address `addr` of process `pid`. */
export function readPagemap(pid: number | 'self', addr: bigint, pages: number, pageSize: number): PagemapEntry[] {
  return readEntries(`/proc/${pid}/pagemap`, addr / BigInt(pageSize), pages).map(decodePagemap);
}
