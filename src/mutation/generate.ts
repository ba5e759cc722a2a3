// Mechanical mutants of the C lines a series adds. Each C file is parsed with
// tree-sitter's C grammar; every mutation site is an AST node that starts on
// an added line. Pure: text in, mutants out.
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';

export const operators = ['negate', 'boundary', 'equality', 'logical', 'delete', 'constant', 'errno', 'flag', 'jump'] as const;
export type Operator = (typeof operators)[number];

export interface Mutant {
  /** 1-based, in file order; the runtime switch's value */
  id: number;
  file: string;
  /** 1-based lines of the mutated node */
  line: number;
  lastLine: number;
  func: string;
  op: Operator;
  /** the node's text and what the mutant makes of it, whitespace collapsed */
  original: string;
  mutated: string;
  /** stable across line moves: file, function, texts, and an occurrence number */
  key: string;
}

/** A mutation attached to a node: what the node's (rewritten) text becomes. */
interface Edit {
  node: Node;
  op: Operator;
  /** text(child) is a child rewritten; self is this node's text before its own edits */
  make: (text: (n: Node) => string, self: string) => string;
  /** the statement kinds are wrapped as `{ if (!on) S }`, expressions as `(on ? M : O)` */
  kind: 'expr' | 'stmt';
}

export interface FileMutants {
  file: string;
  mutants: Mutant[];
  /** the file rewritten so that mutant N is live when the switch says N */
  schemata: string;
  /** functions on added lines that tree-sitter could not parse; their sites are skipped */
  unparsed: string[];
}

let parser: Parser | undefined;
async function cParser(): Promise<Parser> {
  if (parser) return parser;
  await Parser.init();
  const wasm = createRequire(import.meta.url).resolve('tree-sitter-c/tree-sitter-c.wasm');
  const p = new Parser();
  p.setLanguage(await Language.load(wasm));
  return (parser = p);
}

// Kernel annotations the grammar does not know, blanked (same length) before parsing.
const ANNOTATIONS = /\b(?:__user|__rcu|__iomem|__percpu|__force|__must_check|__always_inline|noinline|__maybe_unused|__init|__initdata|__initconst|__read_mostly|__ro_after_init|__cold|__meminit|__releases\([^)]*\)|__acquires\([^)]*\)|__must_hold\([^)]*\))/g;

const ERRNO_SWAP: Record<string, string> = { EINVAL: 'EPERM' };
const swapErrno = (e: string) => ERRNO_SWAP[e] ?? 'EINVAL';
const FLAG = /^[A-Z][A-Z0-9_]+$/;
/** Calls whose deletion no result can show: logging, scheduling points, batching hints. */
export const NO_EFFECT = /^(pr_\w+|printk\w*|pr_warn_ratelimited|cond_resched\w*|might_sleep|might_resched|blk_(start|finish)_plug|arch_(enter|leave)_lazy_mmu_mode|lockdep_assert\w*)$/;
const callee = (stmt: Node) => (stmt.namedChildren[0]?.type === 'call_expression' ? (stmt.namedChildren[0].childForFieldName('function')?.text ?? '') : '');
const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The name of the function whose body holds n, or undefined outside any body. */
function functionOf(n: Node): { name: string; body: Node } | undefined {
  for (let p: Node | null = n; p; p = p.parent) {
    if (p.type === 'function_definition') {
      let d = p.childForFieldName('declarator');
      while (d && d.type !== 'identifier') d = d.childForFieldName('declarator') ?? d.namedChildren.find((c) => c?.type === 'identifier') ?? null;
      const body = p.childForFieldName('body');
      return body ? { name: d?.text ?? '?', body } : undefined;
    }
    // SYSCALL_DEFINEn(name, ...) { ... }: the grammar sees a call, then a block.
    if (p.type === 'compound_statement' && /^(translation_unit|preproc_\w+)$/.test(p.parent?.type ?? '')) {
      const call = p.previousNamedSibling?.namedChildren.find((c) => c?.type === 'call_expression');
      const args = call?.childForFieldName('arguments');
      const name = args?.namedChildren.find((c) => c?.type === 'identifier')?.text;
      return { name: name ? `sys_${name}` : '?', body: p };
    }
  }
  return undefined;
}

/** Nodes where a constant expression is required, or text is not code. */
function constantContext(n: Node, body: Node): boolean {
  for (let p: Node | null = n.parent; p && p.id !== body.id; p = p.parent) {
    if (/^(case_statement|array_declarator|sizeof_expression|preproc_\w+|attribute_specifier|bitfield_clause|enumerator|static_assert_declaration|gnu_asm_expression)$/.test(p.type)) {
      // a case label's value only; the statements after it are code
      if (p.type === 'case_statement' && p.childForFieldName('value')?.id !== ancestorBelow(n, p).id) continue;
      // code inside #ifdef blocks is code; their conditions are not
      if (/^preproc_(if|ifdef|else|elif|elifdef)$/.test(p.type) && p.childForFieldName('condition')?.id !== ancestorBelow(n, p).id) continue;
      return true;
    }
    if (p.type === 'declaration' && p.children.some((c) => c?.type === 'storage_class_specifier' && c.text === 'static')) return true;
  }
  return false;
}

function ancestorBelow(n: Node, top: Node): Node {
  let c = n;
  while (c.parent && c.parent.id !== top.id) c = c.parent;
  return c;
}

function insideError(n: Node, body: Node): boolean {
  if (n.hasError) return true;
  for (let p: Node | null = n.parent; p && p.id !== body.id; p = p.parent) if (p.type === 'ERROR') return true;
  return false;
}

/** Every edit the operators make at node n. */
function editsAt(n: Node): Edit[] {
  const out: Edit[] = [];
  const expr = (op: Operator, make: Edit['make']) => out.push({ node: n, op, make, kind: 'expr' });
  const field = (f: string) => n.childForFieldName(f);
  switch (n.type) {
    case 'parenthesized_expression': {
      // the condition of if/while/do; a for's and a ?:'s conditions come below
      if (/^(if_statement|while_statement|do_statement)$/.test(n.parent?.type ?? '') && n.parent!.childForFieldName('condition')?.id === n.id) {
        expr('negate', (_, self) => `(!${self})`);
      }
      break;
    }
    case 'binary_expression': {
      const o = field('operator')?.type ?? '';
      const l = field('left')!;
      const r = field('right')!;
      const to = (op: Operator, x: string) => expr(op, (t) => `(${t(l)} ${x} ${t(r)})`);
      const boundary: Record<string, string> = { '<': '<=', '<=': '<', '>': '>=', '>=': '>' };
      if (boundary[o]) to('boundary', boundary[o]);
      if (o === '==') to('equality', '!=');
      if (o === '!=') to('equality', '==');
      if (o === '&&') to('logical', '||');
      if (o === '||') to('logical', '&&');
      if (o === '|' && FLAG.test(r.text)) expr('flag', (t) => `(${t(l)})`);
      else if (o === '|' && FLAG.test(l.text)) expr('flag', (t) => `(${t(r)})`);
      if (o === '&' && FLAG.test(r.text)) expr('flag', (t) => `(${t(l)} & ~${t(r)})`);
      if (o === '&' && r.type === 'unary_expression' && r.text.startsWith('~') && FLAG.test(r.namedChildren[0]?.text ?? '')) expr('flag', (t) => `(${t(l)} & ${r.namedChildren[0]!.text})`);
      break;
    }
    case 'assignment_expression': {
      // x |= F  <->  x &= ~F
      const o = field('operator')?.type ?? '';
      const l = field('left')!;
      const r = field('right')!;
      if (o === '|=' && FLAG.test(r.text)) expr('flag', (t) => `(${t(l)} &= ~${t(r)})`);
      if (o === '&=' && r.type === 'unary_expression' && r.text.startsWith('~') && FLAG.test(r.namedChildren[0]?.text ?? '')) expr('flag', (t) => `(${t(l)} |= ${r.namedChildren[0]!.text})`);
      break;
    }
    case 'conditional_expression':
      expr('negate', (t) => `(!(${t(field('condition')!)}) ? ${t(field('consequence')!)} : ${t(field('alternative')!)})`);
      break;
    case 'number_literal': {
      const v = /^(0x[0-9a-f]+|\d+)[ul]*$/i.exec(n.text);
      if (!v) break;
      const value = Number(v[1]);
      if (value !== 0 && value !== 1) expr('constant', () => '0');
      expr('constant', () => `(${n.text} + 1)`);
      if (value !== 0) expr('constant', () => `(${n.text} - 1)`);
      break;
    }
    case 'identifier':
      if (/^E[A-Z0-9]+$/.test(n.text) && n.parent?.type === 'unary_expression' && n.parent.text.startsWith('-')) expr('errno', () => swapErrno(n.text));
      break;
    case 'expression_statement':
      // A macro call (LIST_HEAD(x);, VMA_ITERATOR(...);) may be a declaration: not deleted.
      // Nor are calls that only log, yield or batch: removing them changes no result.
      if (NO_EFFECT.test(callee(n))) break;
      if (FLAG.test(callee(n))) break;
      if (/^(compound_statement|if_statement|else_clause|while_statement|for_statement|do_statement|case_statement|labeled_statement)$/.test(n.parent?.type ?? '') && n.namedChildren.length)
        out.push({ node: n, op: 'delete', make: () => ';', kind: 'stmt' });
      break;
    case 'break_statement':
    case 'continue_statement':
      out.push({ node: n, op: 'jump', make: () => ';', kind: 'stmt' });
      break;
    case 'for_statement': {
      const c = field('condition');
      if (c) out.push({ node: c, op: 'negate', make: (_, self) => `!(${self})`, kind: 'expr' });
      break;
    }
  }
  return out;
}

/**
 * The source with every line blanked (newlines kept, so offsets hold) except
 * the top-level constructs that hold added lines: from the column-0 line that
 * starts the construct to the column-0 `}` that ends it. The parser then sees
 * whole functions, and a construct elsewhere in the file that it cannot parse
 * (a macro it does not know) cannot derail it.
 */
export function windows(source: string, added: ReadonlySet<number>): string {
  const lines = source.split('\n');
  const keep = new Uint8Array(lines.length);
  const starts = (l: string) => /^[A-Za-z_]/.test(l);
  for (const a of added) {
    let lo = a - 1;
    while (lo > 0 && !starts(lines[lo]!)) lo--;
    let hi = a - 1;
    while (hi < lines.length - 1 && !/^}/.test(lines[hi]!) && !(hi > a - 1 && starts(lines[hi]!) && /;\s*$/.test(lines[hi]!))) hi++;
    keep.fill(1, lo, hi + 1);
  }
  return lines.map((l, k) => (keep[k] ? l : ' '.repeat(l.length))).join('\n');
}

/** The guard the schemata use; defined in the runtime file (schemata.ts). */
export const GUARD = 'reclaim_mutant_on';

/**
 * Mutants of one C file. `added` holds the 1-based lines the series added;
 * ids start at firstId; mutants whose key is in `exclude` are not made.
 */
export async function mutateFile(file: string, source: string, added: ReadonlySet<number>, firstId: number, exclude: ReadonlySet<string> = new Set()): Promise<FileMutants> {
  const p = await cParser();
  const tree = p.parse(windows(source, added).replace(ANNOTATIONS, (m) => ' '.repeat(m.length)))!;
  const edits = new Map<number, Array<Edit & { id: number }>>();
  const mutants: Mutant[] = [];
  const seen = new Map<string, number>();
  const unparsed = new Set<string>();
  let id = firstId;
  const visit = (n: Node) => {
    if (added.has(n.startPosition.row + 1)) {
      const f = functionOf(n);
      if (f && n.id !== f.body.id) {
        for (const e of editsAt(n)) {
          if (insideError(e.node, f.body)) {
            unparsed.add(f.name);
            continue;
          }
          if ((e.op === 'constant' || e.op === 'flag') && constantContext(e.node, f.body)) continue;
          const original = collapse(e.node.text);
          const mutated = collapse(e.make((x) => x.text, e.node.text));
          const base = `${file}:${f.name}: ${original} => ${mutated}`;
          const k = (seen.get(base) ?? 0) + 1;
          seen.set(base, k);
          const key = k > 1 ? `${base} #${k}` : base;
          if (exclude.has(key)) continue;
          const m = { id: id++, file, line: e.node.startPosition.row + 1, lastLine: e.node.endPosition.row + 1, func: f.name, op: e.op, original, mutated, key };
          mutants.push(m);
          edits.set(e.node.id, [...(edits.get(e.node.id) ?? []), { ...e, id: m.id }]);
        }
      }
    }
    for (const c of n.children) if (c) visit(c);
  };
  visit(tree.rootNode);

  // Rewrite bottom-up: a node's text is its source with children rewritten,
  // then wrapped by each of its own edits.
  const memo = new Map<number, string>();
  const rewrite = (n: Node): string => {
    const done = memo.get(n.id);
    if (done !== undefined) return done;
    let self = '';
    let at = n.startIndex;
    for (const c of n.children) {
      if (!c) continue;
      self += source.slice(at, c.startIndex) + rewrite(c);
      at = c.endIndex;
    }
    self += source.slice(at, n.endIndex);
    let text = self;
    for (const e of edits.get(n.id) ?? []) {
      text = e.kind === 'stmt' ? `{ if (!${GUARD}(${e.id})) ${text} }` : `(${GUARD}(${e.id}) ? ${e.make(rewrite, self)} : (${text}))`;
    }
    memo.set(n.id, text);
    return text;
  };
  // Splice the outermost edited nodes into the source.
  let schemata = '';
  let at = 0;
  const splice = (n: Node) => {
    if (!edits.has(n.id) && !hasEdits(n)) return;
    if (edits.has(n.id)) {
      schemata += source.slice(at, n.startIndex) + rewrite(n);
      at = n.endIndex;
    } else for (const c of n.children) if (c) splice(c);
  };
  const under = new Map<number, boolean>();
  const hasEdits = (n: Node): boolean => {
    let v = under.get(n.id);
    if (v === undefined) under.set(n.id, (v = edits.has(n.id) || n.children.some((c) => c !== null && hasEdits(c))));
    return v;
  };
  splice(tree.rootNode);
  schemata += source.slice(at);
  tree.delete();
  return { file, mutants, schemata, unparsed: [...unparsed] };
}
