// The kernel's parsers for /proc/PID/reclaim and /dev/shrinkmem, modelled
// byte for byte. Pure: bytes in, outcome out. Spec: Part A A1 (reclaim), A3
// (shrinkmem), Part B §1.2 (memparse quirks), §6.2 (errno table).

export type ReclaimAction =
  | { kind: 'keyword'; which: 'file' | 'anon' | 'all' }
  | { kind: 'range'; start: bigint; len: bigint }
  | { kind: 'noop' };

export type Parsed<T> = { ok: true; ret: number; action: T } | { ok: false; errno: 'EINVAL'; rule: string };

const U64 = (1n << 64n) - 1n;
/** Writes longer than this are truncated (A1: buffer[200]). */
export const RECLAIM_MAX_WRITE = 199;

/** lib/ctype.c isspace: \t \n \v \f \r, space, and Latin-1 NBSP (0xa0). */
const isspace = (c: number) => (c >= 9 && c <= 13) || c === 32 || c === 0xa0;
const isdigit = (c: number) => c >= 48 && c <= 57;
const isxdigit = (c: number) => isdigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

/** The bytes up to the first NUL: what the kernel's C string functions see. */
function cString(b: Uint8Array): Uint8Array {
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

/** lib/kstrtox.c _parse_integer_fixup_radix: base 0 picks 16 ("0x" + hex digit), 8 ("0…") or 10. */
function fixupRadix(s: Uint8Array, at: number, base: number): { at: number; base: number } {
  if (base === 0) {
    if (s[at] === 48) base = lower(s[at + 1] ?? 0) === 120 && isxdigit(s[at + 2] ?? 0) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && s[at] === 48 && lower(s[at + 1] ?? 0) === 120) at += 2;
  return { at, base };
}

/** lib/kstrtox.c _parse_integer: digits valid in base, wrapping mod 2^64. */
function parseInteger(s: Uint8Array, at: number, base: number): { value: bigint; end: number; overflow: boolean } {
  let value = 0n;
  let overflow = false;
  let i = at;
  for (; i < s.length; i++) {
    const c = s[i]!;
    const lc = lower(c);
    const v = isdigit(c) ? c - 48 : lc >= 97 && lc <= 102 ? lc - 87 : 99;
    if (v >= base) break;
    const next = value * BigInt(base) + BigInt(v);
    if (next > U64) overflow = true;
    value = next & U64;
  }
  return { value, end: i, overflow };
}

/** lib/cmdline.c memparse: simple_strtoull(base 0), then an optional K/M/G/T/P/E suffix (×1024 each step). */
export function memparse(s: Uint8Array, at = 0): { value: bigint; end: number } {
  const r = fixupRadix(s, at, 0);
  let { value, end } = parseInteger(s, r.at, r.base);
  const shifts: Record<number, bigint> = { 107: 10n, 109: 20n, 103: 30n, 116: 40n, 112: 50n, 101: 60n };
  const sh = shifts[lower(s[end] ?? 0)];
  if (sh !== undefined) {
    value = (value << sh) & U64;
    end++;
  }
  return { value, end };
}

/**
 * A write of `data` to /proc/PID/reclaim (A1, §1.2, §6.2): the return value
 * and what the kernel then does, or the errno and the rule that gave it.
 */
export function parseReclaim(data: Uint8Array, pageSize: number): Parsed<ReclaimAction> {
  const ret = Math.min(data.length, RECLAIM_MAX_WRITE);
  let s = cString(data.subarray(0, ret));
  let a = 0;
  let b = s.length;
  while (a < b && isspace(s[a]!)) a++;
  while (b > a && isspace(s[b - 1]!)) b--;
  s = s.subarray(a, b);
  const text = String.fromCharCode(...s);
  if (text === 'file' || text === 'anon' || text === 'all') return { ok: true, ret, action: { kind: 'keyword', which: text } };
  if (!s.length || !isdigit(s[0]!)) return { ok: false, errno: 'EINVAL', rule: 'A1 parsing: not a keyword and not ADDR SIZE' };

  // strsep(&buf, " "): tokens end at a single space.
  const sp1 = s.indexOf(32);
  const tok1 = sp1 < 0 ? s : s.subarray(0, sp1);
  const start = memparse(tok1).value;
  const page = BigInt(pageSize);
  if (start % page !== 0n) return { ok: false, errno: 'EINVAL', rule: 'A1 parsing: ADDR not page aligned' };
  if (sp1 < 0) return { ok: false, errno: 'EINVAL', rule: 'A1 parsing: SIZE missing' };
  const rest = s.subarray(sp1 + 1);
  const sp2 = rest.indexOf(32);
  const lenIn = memparse(sp2 < 0 ? rest : rest.subarray(0, sp2)).value;
  const len = (lenIn + page - 1n) & U64 & ~(page - 1n);
  if (lenIn !== 0n && len === 0n) return { ok: false, errno: 'EINVAL', rule: 'A1 parsing: SIZE rounds up past 2^64' };
  if (start + len > U64) return { ok: false, errno: 'EINVAL', rule: 'A1 parsing: ADDR + SIZE overflows' };
  if (len === 0n) return { ok: true, ret, action: { kind: 'noop' } };
  return { ok: true, ret, action: { kind: 'range', start, len } };
}

/** kstrtoul_from_user copies at most 66 bytes for an unsigned long. */
const KSTRTOUL_MAX = 66;

/** A write to /dev/shrinkmem by a CAP_SYS_ADMIN caller (A3): megabytes, or EINVAL. */
export function parseShrinkmem(data: Uint8Array): Parsed<{ mb: bigint }> {
  const ret = data.length;
  const s = cString(data.subarray(0, Math.min(data.length, KSTRTOUL_MAX)));
  let at = s[0] === 43 ? 1 : 0; // kstrtoull accepts one leading '+'
  const r = fixupRadix(s, at, 0);
  const p = parseInteger(s, r.at, r.base);
  if (p.overflow) return { ok: false, errno: 'EINVAL', rule: 'A3: out of range (kstrtoul -ERANGE, reported as EINVAL)' };
  if (p.end === r.at) return { ok: false, errno: 'EINVAL', rule: 'A3: no digits' };
  at = p.end;
  if (s[at] === 10) at++;
  if (at !== s.length) return { ok: false, errno: 'EINVAL', rule: 'A3: trailing characters' };
  return { ok: true, ret, action: { mb: p.value } };
}
