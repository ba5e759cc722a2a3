// /proc/PID/pagemap entries, decoded (Documentation/admin-guide/mm/pagemap.rst).

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
