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

/** Reads `pages` entries starting at virtual address `addr` of process `pid`. */
export function readPagemap(pid: number | 'self', addr: bigint, pages: number, pageSize: number): PagemapEntry[] {
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    const buf = Buffer.alloc(pages * 8);
    const pos = (addr / BigInt(pageSize)) * 8n;
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, pos + BigInt(got));
      if (n === 0) break;
      got += n;
    }
    const out: PagemapEntry[] = [];
    for (let i = 0; i < got / 8; i++) out.push(decodePagemap(buf.readBigUInt64LE(i * 8)));
    return out;
  } finally {
    closeSync(fd);
  }
}
