// Parsers for the text files of /proc the harness observes. Pure: the agent
// ships the text, the host parses it.

/** "Key:   123 kB" lines (meminfo, status, one smaps block) -> numbers (kB where the file says kB). */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(-?\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** /proc/vmstat "name value" lines -> numbers. */
export function parseVmstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

export interface SmapsVma {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  /** Rss, Swap, Anonymous, Locked, … in kB */
  fields: Record<string, number>;
  vmFlags: string[];
}

/**
 * The fields of the smaps blocks whose VMA is exactly [start, end), for each such range (null
 * where there is none), without parsing the other blocks.
 */
export function smapsFieldsOf(text: string, ranges: ReadonlyArray<readonly [bigint, bigint]>): Array<Record<string, number> | null> {
  const heads: Array<{ start: bigint; end: bigint; at: number }> = [];
  for (const m of text.matchAll(/^([0-9a-f]+)-([0-9a-f]+) /gm)) heads.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), at: m.index! });
  return ranges.map(([start, end]) => {
    const k = heads.findIndex((h) => h.start === start && h.end === end);
    if (k < 0) return null;
    const block = text.slice(heads[k]!.at, heads[k + 1]?.at ?? text.length);
    return parseKeyValues(block.slice(block.indexOf('\n') + 1));
  });
}

/** Only the given keys of "Key:   123 kB" lines (e.g. five of status's fifty). */
export function pickKeyValues(text: string, keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^(${keys.join('|')}):\\s+(-?\\d+)`, 'gm'))) out[m[1]!] = Number(m[2]);
  return out;
}

/** /proc/PID/smaps -> one entry per VMA. */
export function parseSmaps(text: string): SmapsVma[] {
  const out: SmapsVma[] = [];
  for (const block of text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+[ \t]*([^\n]*)/.exec(block);
    if (!head) continue;
    out.push({
      start: BigInt(`0x${head[1]}`),
      end: BigInt(`0x${head[2]}`),
      perms: head[3]!,
      path: head[4]!.trim(),
      fields: parseKeyValues(block.slice(block.indexOf('\n') + 1)),
      vmFlags: /^VmFlags:(.*)$/m.exec(block)?.[1]!.trim().split(/\s+/) ?? [],
    });
  }
  return out;
}

/** b - a for every key of b that is numeric in both. */
export function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (typeof a[k] === 'number') out[k] = v - a[k]!;
  return out;
}
