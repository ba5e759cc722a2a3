// Parser conformance: the kernel's answer to each input must be the model's (spec A1, A3, §6.2).
import { parseReclaim, parseShrinkmem, type Parsed } from '../model/parse.js';
import type { Ctx, Outcome } from '../suite/ctx.js';
import type { Scenario } from '../suite/types.js';

export const RECLAIM_INPUTS = [
  'anon', ' all\n', 'file\n', '\xa0file\xa0', 'ALL', '', 'file anon', 'anon\0junk', '4097 4096', '4096', '4096 0',
  '4096  8192', '4096\t8192', '0x1000 4k', '010 4096', '4096 -1', '4096 0xffffffffffffffff', '0xfffffffffffff000 8192',
  '4096abc 4096', '0 1 2 3', '0x7fff00000000 1G', '8192 4097', '16E 4096', `anon${' '.repeat(300)}`,
  // the write is cut at 199 bytes (A1: buffer[200]): the stray x counts only at 199 bytes or fewer
  `anon${' '.repeat(194)}x`, `anon${' '.repeat(195)}x`, `anon${' '.repeat(196)}x`,
];
export const SHRINKMEM_INPUTS = ['0', '0x0\n', '+0', '00', 'abc', '1\n\n', ' 1', '-1', '99999999999999999999', '', '0x', '1 '];

/** The input as a C-style literal: non-printable bytes as \xNN. */
const show = (s: string) => `"${[...s].map((c) => (c >= ' ' && c <= '~' && c !== '"' && c !== '\\' ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('')}"`;

function compare(ctx: Ctx, what: string, input: string, got: Outcome<number>, want: Parsed<unknown>): void {
  const g = got.ok ? `returns ${got.value}` : got.code;
  const w = want.ok ? `returns ${want.ret}` : want.errno;
  ctx.expect(g === w, `${what} ${show(input)}: kernel ${g}, model ${w}${want.ok ? '' : ` (${want.rule})`}`);
}

export const parse: Scenario[] = [
  {
    id: 'reclaim.parse.model',
    title: `/proc/PID/reclaim answers ${RECLAIM_INPUTS.length} inputs exactly as the model's parser`,
    needs: { feature: 'proc-reclaim' },
    noEffect: "a parser row: the kernel's answer to each input against the model's parser",
    async run(ctx) {
      const s = await ctx.spawn();
      for (const input of RECLAIM_INPUTS) compare(ctx, 'reclaim', input, await ctx.reclaim(s.pid, input), parseReclaim(Buffer.from(input, 'latin1'), ctx.page));
    },
  },
  {
    id: 'shrinkmem.parse.model',
    title: `/dev/shrinkmem answers ${SHRINKMEM_INPUTS.length} inputs exactly as the model's parser (0 MB: no reclaim)`,
    needs: { feature: 'shrinkmem' },
    noEffect: "a parser row: the kernel's answer to each input against the model's parser",
    async run(ctx) {
      for (const input of SHRINKMEM_INPUTS) compare(ctx, 'shrinkmem', input, await ctx.write('/dev/shrinkmem', input), parseShrinkmem(Buffer.from(input, 'latin1')));
    },
  },
];
