// The human report: one line per result, a table per group, each failure
// explained finding by finding, and the timings. Fits a 100-column terminal.
import type { Finding } from '../model/compare.js';
import type { Result } from '../suite/types.js';
import { byGroup, targetLine, type RunReport } from './json.js';

const MARK: Record<Result['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR' };
const WIDTH = 100;

export function resultLine(r: Result): string {
  const first = r.reason?.split('\n')[0];
  const retried = r.retried?.length ? `  (${r.retried.length} earlier tr${r.retried.length > 1 ? 'ies' : 'y'} did not reach the precondition)` : '';
  return `${MARK[r.status].padEnd(5)} ${r.id.padEnd(40)} ${String(r.durationMs).padStart(6)} ms${first ? `  ${first}` : ''}${retried}`;
}

/** Text on one line: line breaks become ' / ', other control characters spaces. */
export function oneLine(s: string): string {
  return s
    .split(/\r\n|\r|\n/)
    .map((l) => l.replace(/[\x00-\x1f\x7f]/g, ' ').trim())
    .filter(Boolean)
    .join(' / ');
}

/** A finding as labelled fields, in reading order; absent fields left out. */
export function findingFields(f: Finding): Array<[label: string, value: string]> {
  const fields: Array<[string, string | undefined]> = [
    ['step', f.step],
    ['process', f.process],
    ['page', f.addr],
    ['vma', f.vma],
    ['expected', f.expected],
    ['observed', f.observed],
    ['rule', f.rule],
    ['why', f.explain],
  ];
  return fields.filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '').map(([k, v]) => [k, oneLine(v)]);
}

/** Word-wraps text to WIDTH: the first line after `first`, the rest after `indent` spaces. */
function wrap(first: string, text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/ +/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line.trimEnd());
      line = ' '.repeat(indent) + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** The result line of the report: its reason wrapped under the line, not past WIDTH. */
function wrappedResultLine(r: Result): string[] {
  const head = resultLine({ ...r, reason: undefined });
  const first = oneLine(r.reason?.split('\n')[0] ?? '');
  if (!first) return [head];
  if (head.length + 2 + first.length <= WIDTH) return [`${head}  ${first}`];
  return [head, ...wrap(' '.repeat(6), first, 6)];
}

function groupTable(rep: RunReport): string[] {
  const groups = [...byGroup(rep.results)];
  const w = Math.min(40, Math.max(5, ...groups.map(([g]) => g.length)));
  const row = (name: string, c: (string | number)[]) => `${name.padEnd(w)} ${c.map((n) => String(n).padStart(6)).join('')}`;
  const out = [row('group', ['pass', 'fail', 'skip', 'error'])];
  for (const [g, rs] of groups) {
    const n = { pass: 0, fail: 0, skip: 0, error: 0 };
    for (const r of rs) n[r.status]++;
    out.push(row(g, [n.pass, n.fail, n.skip, n.error]));
  }
  const s = rep.summary;
  out.push(row('total', [s.pass, s.fail, s.skip, s.error]));
  return out;
}

/** A FAIL explained: its reason, then every finding, one labelled field a line. */
export function explainFailure(r: Result): string[] {
  const out = [`FAIL ${r.id}${r.title ? ` (${oneLine(r.title)})` : ''}`];
  const findings = r.findings ?? [];
  for (const l of (r.reason?.trim() || 'no reason given').split('\n')) out.push(...wrap('  ', oneLine(l), 4));
  findings.forEach((f, i) => {
    out.push(`  finding ${i + 1} of ${findings.length}`);
    for (const [k, v] of findingFields(f)) out.push(...wrap(`    ${k.padEnd(9)} `, v, 14));
  });
  return out;
}

export function humanReport(rep: RunReport): string {
  const out: string[] = [];
  if (rep.kernel.release) out.push(`kernel ${rep.kernel.release} (${rep.kernel.image ?? 'image ?'}), features: ${Object.entries(rep.features.interfaces ?? {}).map(([k, v]) => `${k}=${v ? 'yes' : 'no'}`).join(' ')}, swap ${rep.features.swap?.totalKb ?? 0} kB`);
  else out.push(`kernel ${rep.kernel.image ?? 'image ?'}: no agent came up`);
  if (rep.target) out.push(`target: ${targetLine(rep.target)}`);
  if (rep.target?.note) out.push(`note: ${rep.target.note}`);
  for (const r of rep.results) out.push(...wrappedResultLine(r));
  out.push('', ...groupTable(rep));
  for (const r of rep.results) {
    if (r.status === 'fail') out.push('', ...explainFailure(r));
    else if (r.status === 'error' && r.reason?.includes('\n')) out.push('', `ERROR ${r.id}:`, r.reason);
  }
  if (rep.repeat) {
    const c = rep.repeat.changed;
    out.push('', `${rep.repeat.rounds} of ${rep.repeat.of} rounds in one boot: ${c.length ? `${c.length} scenario(s) changed verdict` : 'no scenario changed verdict'}; ${rep.repeat.retried} scenario run(s) needed another try to reach a precondition`);
    for (const x of c) out.push(...wrap(`  ${x.id.padEnd(40)} `, `${x.verdicts.join(' ')}${x.reason ? `: ${oneLine(x.reason)}` : ''}`, 43));
  }
  const s = rep.summary;
  out.push('', `${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.error} errors${rep.interrupted ? ` (interrupted by ${rep.interrupted})` : ''}`);
  if (rep.timings.bootMs) out.push(`boot-to-agent-ready ${(rep.timings.bootMs / 1000).toFixed(2)} s, suite ${(rep.timings.suiteMs / 1000).toFixed(2)} s`);
  return out.join('\n');
}
