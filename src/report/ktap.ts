// The KTAP report (results.ktap, --format ktap): KTAP version 1 as kselftest
// writes it, one subtest block per group (groupOf(id)), each scenario a test
// case, FAIL and ERROR explained in diagnostic lines before their 'not ok'.
// Read back by the kernel's own tools/testing/kunit/kunit_parser.py in the tests.
import type { Result } from '../suite/types.js';
import { findingFields, oneLine } from './human.js';
import { byGroup, summarize, targetLine, type RunReport } from './json.js';

/** A test name for a result line: no '#' (it starts a directive), no control characters. */
export function ktapName(s: string): string {
  return oneLine(s).replace(/#/g, '_') || '(unnamed)';
}

/**
 * A diagnostic line. Continuation text is indented after the '#' so no line
 * reads as a '# Subtest:' header.
 */
function diag(indent: string, text: string, cont = false): string {
  const t = text.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ').replace(/\t/g, ' ').trimEnd();
  const body = !cont && /^\s*Subtest:/.test(t) ? `  ${t}` : t;
  return `${indent}#${body ? (cont ? '   ' : ' ') + body : ''}`;
}

/** The diagnostic lines before a FAIL's or ERROR's 'not ok'. */
function explain(indent: string, r: Result): string[] {
  const out: string[] = [];
  const label = r.status === 'error' ? 'ERROR' : 'FAIL';
  const [first, ...rest] = (r.reason?.trim() || 'no reason given').split(/\r\n|\r|\n/);
  out.push(diag(indent, `${label} ${r.id}: ${first}`));
  for (const l of rest) out.push(diag(indent, l, true));
  const findings = r.findings ?? [];
  findings.forEach((f, i) => {
    out.push(diag(indent, `finding ${i + 1} of ${findings.length}:`));
    for (const [k, v] of findingFields(f)) out.push(diag(indent, `${k}: ${v}`, true));
  });
  return out;
}

export function ktapReport(rep: RunReport): string {
  const groups = [...byGroup(rep.results)];
  const out = ['KTAP version 1', `1..${groups.length}`];
  if (rep.kernel.release || rep.kernel.image) {
    out.push(`# reclaim-harness: kernel ${oneLine(rep.kernel.release ?? '?')} (${oneLine(rep.kernel.image ?? 'image ?')})`);
  }
  if (rep.target) out.push(`# reclaim-harness: target ${targetLine(rep.target)}`);
  if (rep.target?.note) out.push(`# reclaim-harness: ${oneLine(rep.target.note)}`);
  const sub = '  ';
  groups.forEach(([group, results], gi) => {
    const gname = ktapName(group);
    out.push(`${sub}KTAP version 1`, `${sub}# Subtest: ${gname}`, `${sub}1..${results.length}`);
    results.forEach((r, i) => {
      const n = i + 1;
      const name = ktapName(r.id);
      switch (r.status) {
        case 'pass':
          out.push(`${sub}ok ${n} ${name}`);
          break;
        case 'skip':
          out.push(`${sub}ok ${n} ${name} # SKIP${r.reason?.trim() ? ` ${oneLine(r.reason)}` : ''}`);
          break;
        case 'fail':
        case 'error':
          out.push(...explain(sub, r), `${sub}not ok ${n} ${name}`);
          break;
      }
    });
    const bad = results.some((r) => r.status === 'fail' || r.status === 'error');
    const allSkip = results.every((r) => r.status === 'skip');
    out.push(bad ? `not ok ${gi + 1} ${gname}` : `ok ${gi + 1} ${gname}${allSkip ? ' # SKIP' : ''}`);
  });
  if (rep.interrupted) out.push(`# interrupted by ${oneLine(rep.interrupted)}: results are partial`);
  const s = summarize(rep.results);
  out.push(`# Totals: pass:${s.pass} fail:${s.fail} xfail:0 xpass:0 skip:${s.skip} error:${s.error}`);
  return out.join('\n') + '\n';
}
