// The JUnit XML report (results.junit.xml, --format junit), in the format Ant's
// XMLJUnitResultFormatter, Maven surefire and Jenkins use: one <testsuite> per
// group (groupOf(id)), one <testcase> per scenario. test/fixtures/junit.xsd
// describes what this writes.
import { hostname as osHostname } from 'node:os';
import type { Result } from '../suite/types.js';
import { findingFields, oneLine } from './human.js';
import { byGroup, summarize, type RunReport } from './json.js';

export interface JunitOptions {
  /** when the run happened (default: now) */
  timestamp?: Date;
  /** the machine that ran it (default: this one) */
  hostname?: string;
}

// Characters XML 1.0 forbids (control characters but \t \n \r, lone surrogates, U+FFFE/U+FFFF).
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Character data: forbidden characters dropped, & < > escaped. */
export function xmlText(s: string): string {
  return s.replace(NOT_XML, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An attribute value: as xmlText, plus quotes, and \t \n \r as references so they survive normalisation. */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

const attrs = (a: Record<string, string | number | undefined>) =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

/** The full text of a FAIL or ERROR: its reason, then every finding. */
function detail(r: Result): string {
  const out = [r.reason?.trim() || 'no reason given'];
  const findings = r.findings ?? [];
  findings.forEach((f, i) => {
    out.push('', `finding ${i + 1} of ${findings.length}:`);
    for (const [k, v] of findingFields(f)) out.push(`  ${k}: ${v}`);
  });
  return out.join('\n');
}

function testcase(group: string, r: Result): string {
  const open = `    <testcase${attrs({ classname: `reclaim-harness.${group}`, name: r.id, time: seconds(r.durationMs) })}`;
  const first = oneLine(r.reason?.split('\n')[0] ?? '') || undefined;
  switch (r.status) {
    case 'pass':
      return `${open}/>`;
    case 'skip':
      return `${open}>\n      <skipped${attrs({ message: r.reason?.trim() })}/>\n    </testcase>`;
    case 'fail':
      return `${open}>\n      <failure${attrs({ message: first ?? 'failed', type: 'mismatch' })}>${xmlText(detail(r))}</failure>\n    </testcase>`;
    case 'error':
      return `${open}>\n      <error${attrs({ message: first ?? 'error', type: 'error' })}>${xmlText(detail(r))}</error>\n    </testcase>`;
  }
}

export function junitReport(rep: RunReport, o: JunitOptions = {}): string {
  const timestamp = (o.timestamp ?? new Date()).toISOString().slice(0, 19);
  const hostname = o.hostname || osHostname() || 'localhost';
  const props = Object.entries({
    'kernel.release': rep.kernel.release,
    'kernel.version': rep.kernel.version,
    'kernel.image': rep.kernel.image,
    'kernel.patches': rep.kernel.patches,
    'kernel.cacheKey': rep.kernel.cacheKey,
    interrupted: rep.interrupted,
  }).filter((e): e is [string, string] => e[1] !== undefined);
  const properties = props.length
    ? ['    <properties>', ...props.map(([name, value]) => `      <property${attrs({ name, value })}/>`), '    </properties>']
    : [];

  const suites: string[] = [];
  let totalMs = 0;
  for (const [group, results] of byGroup(rep.results)) {
    const s = summarize(results);
    const ms = results.reduce((t, r) => t + r.durationMs, 0);
    totalMs += ms;
    suites.push(
      `  <testsuite${attrs({ name: group, tests: results.length, failures: s.fail, errors: s.error, skipped: s.skip, time: seconds(ms), timestamp, hostname })}>`,
      ...properties,
      ...results.map((r) => testcase(group, r)),
      '  </testsuite>',
    );
  }
  const s = summarize(rep.results);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'reclaim-harness', tests: rep.results.length, failures: s.fail, errors: s.error, skipped: s.skip, time: seconds(totalMs) })}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
