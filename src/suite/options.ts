// Command-line options as one table: each entry holds the commands it applies to, its default,
// its help line and its check. The host's command line (cli/options.ts) and the on-target runner
// (agent/runner.ts) read their arguments through parseOptions, and the usage text is made from
// the table. Every mistake is reported, one line each, before any work starts.
import { parseArgs } from 'node:util';
import { parseExpect, type Patched } from '../protocol/kconfig.js';
import { selectScenarios } from './runner.js';
import type { Depth, Scenario } from './types.js';

/** A mistake on the command line: exit status 2. */
export class UsageError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** What a check says of a value it refuses: said after "--name VALUE: ", or whole. */
export type Refusal = string | { whole: string } | undefined;

export interface OptionEntry<O, C extends string = string> {
  type: 'string' | 'boolean';
  commands: readonly C[];
  short?: string;
  /** the value's name in the usage text (REGEX, DIR, ...) */
  arg?: string;
  /** the default, as the usage text says it */
  default?: string;
  help: string;
  /** checks the value and puts it into o; the table's order is the order of checks */
  set: (raw: string, o: O, command: C | undefined) => Refusal;
}

export type OptionTable<O, C extends string = string> = Record<string, OptionEntry<O, C>>;

/** Parses argv against table for command (the first positional when commands is given). */
export function parseOptions<O, C extends string>(
  table: OptionTable<O, C>,
  argv: readonly string[],
  o: O,
  commands?: readonly C[],
): { command?: C; given: Set<string>; raw: Record<string, string | undefined>; problems: string[] } {
  const spec = (name: string) => (Object.hasOwn(table, name) ? table[name] : undefined);
  // A string option followed by another option (or nothing) has no value: say so, rather than take the next option as it.
  const args = argv.map((a, k) => (/^--[\w-]+$/.test(a) && spec(a.slice(2))?.type === 'string' && (argv[k + 1] === undefined || argv[k + 1]!.startsWith('--')) ? `${a}=` : a));
  const { values, positionals, tokens } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: Object.fromEntries(Object.entries(table).map(([n, e]) => [n, { type: e.type, ...(e.short ? { short: e.short } : {}) }])),
  });
  const problems: string[] = [];
  let command: C | undefined;
  let extra = positionals;
  if (commands) {
    const [first, ...rest] = positionals;
    command = commands.find((c) => c === first);
    if (first !== undefined && !command) problems.push(`unknown command '${first}' (commands: ${commands.join(', ')})`);
    extra = rest;
  }
  for (const x of extra) problems.push(`unexpected argument '${x}'`);
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const e = spec(t.name);
    if (!e) problems.push(`unknown option ${t.rawName}`);
    else if (e.type === 'string' && !t.value) problems.push(`${t.rawName} needs a value`);
    else if (e.type === 'boolean' && t.value !== undefined) problems.push(`${t.rawName} takes no value`);
    else if (command && !e.commands.includes(command)) problems.push(`${t.rawName} does not apply to '${command}' (it is for: ${e.commands.join(', ')})`);
  }
  const raw: Record<string, string | undefined> = {};
  const given = new Set<string>();
  for (const [n, e] of Object.entries(table)) {
    const v = values[n];
    if (v === undefined) continue;
    given.add(n);
    if (e.type === 'boolean' ? v !== true : typeof v !== 'string' || v === '') continue;
    const s = e.type === 'boolean' ? '' : (v as string);
    raw[n] = s;
    const r = e.set(s, o, command);
    if (typeof r === 'string') problems.push(`--${n} ${s}: ${r}`);
    else if (r) problems.push(r.whole);
  }
  return { command, given, raw, problems };
}

/** text after head, wrapped at width with later lines under the column `at`. */
export function hanging(head: string, text: string, at: number, width = 100): string {
  const lines: string[] = [];
  let line = head.length < at ? head.padEnd(at) : `${head}\n${' '.repeat(at)}`;
  let fresh = true;
  for (const w of text.split(' ')) {
    const last = line.slice(line.lastIndexOf('\n') + 1);
    if (!fresh && last.length + 1 + w.length > width) {
      lines.push(line);
      line = ' '.repeat(at) + w;
    } else line += (fresh ? '' : ' ') + w;
    fresh = false;
  }
  return [...lines, line].join('\n');
}

/** The options part of a usage text: each option once, with its value, help, default and commands. */
export function optionsUsage<O, C extends string>(table: OptionTable<O, C>, all: readonly C[]): string[] {
  return Object.entries(table).map(([n, e]) => {
    const head = `  ${e.short ? `-${e.short}, ` : ''}--${n}${e.arg ? ` ${e.arg}` : ''}`;
    return hanging(head, [e.help + (e.default ? ` (${e.default})` : ''), e.commands.length === all.length ? '' : `[${e.commands.join(', ')}]`].filter(Boolean).join(' '), 24);
  });
}

/** "256", "256M", "1G" -> MiB; undefined when it is not a size. */
export function parseMiB(s: string): number | undefined {
  const m = /^(\d+)([MG]?)$/i.exec(s);
  return m ? Number(m[1]) * (m[2]?.toUpperCase() === 'G' ? 1024 : 1) : undefined;
}

export function regexProblem(raw: string): string | undefined {
  try {
    new RegExp(raw);
    return undefined;
  } catch (e) {
    return `not a regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
}

const SWAP_MAX_MIB = 65536;

/** The options the suite itself takes, wherever it runs: the host's run and lava, and the on-target runner. */
export interface SuiteOptions {
  depth: Depth;
  filter?: string;
  expect?: Patched[];
  swap: number | 'none';
  scratch: string;
}

/** The entries of those options; `scenarios` is the suite, for --filter's check. */
export function suiteEntries<O extends SuiteOptions, C extends string>(commands: Record<'depth' | 'filter' | 'expect' | 'swap' | 'scratch', readonly C[]>, scenarios: readonly Scenario[], filterMustMatch: (c: C | undefined) => boolean): OptionTable<O, C> {
  return {
    depth: {
      type: 'string', commands: commands.depth, arg: 'default|full', default: 'default',
      help: 'full adds the scenarios too slow for the default suite, reported apart (mutate always runs them)',
      set: (v, o) => (v === 'default' || v === 'full' ? void (o.depth = v) : 'want default or full'),
    },
    filter: {
      type: 'string', commands: commands.filter, arg: 'REGEX', help: 'scenarios whose id matches',
      set: (v, o, c) => {
        const p = regexProblem(v);
        if (p) return p;
        const deeper = () => selectScenarios(scenarios, v, 'full').length;
        if (filterMustMatch(c) && !selectScenarios(scenarios, v, o.depth).length) return `matches none of the ${selectScenarios(scenarios, undefined, o.depth).length} scenarios${o.depth === 'default' && deeper() ? ` at --depth default (${deeper()} at --depth full)` : ''}`;
        o.filter = v;
        return undefined;
      },
    },
    expect: {
      type: 'string', commands: commands.expect, arg: 'LIST',
      help: "interfaces the kernel must have (proc-reclaim,pmadv-range,shrinkmem): each missing one is a FAIL, not a SKIP; without it they come from the kernel's config",
      set: (v, o) => {
        try {
          o.expect = [...parseExpect(v).keys()] as Patched[];
          return undefined;
        } catch (e) {
          return { whole: (e as Error).message };
        }
      },
    },
    swap: {
      type: 'string', commands: commands.swap, arg: 'SIZE|none', default: '256M of zram', help: 'the swap device the suite turns on and off',
      set: (v, o) => {
        const mib = v === 'none' ? 'none' : parseMiB(v);
        if (mib === undefined) return 'want a zram size such as 256M or 1G, or none';
        if (mib !== 'none' && (mib < 1 || mib > SWAP_MAX_MIB)) return `want from 1M to ${SWAP_MAX_MIB / 1024}G, or none`;
        o.swap = mib;
        return undefined;
      },
    },
    scratch: {
      type: 'string', commands: commands.scratch, arg: 'DIR', default: '/mnt/scratch', help: "the target's scratch directory, on a disk file system",
      set: (v, o) => (v.startsWith('/') ? void (o.scratch = v) : 'want an absolute path on the board'),
    },
  };
}
