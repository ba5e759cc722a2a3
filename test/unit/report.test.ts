// The reports, checked by outside readers: the KTAP by the kernel's own
// kunit_parser.py (from Debian's linux-source-6.12), the JUnit XML by xmllint
// against test/fixtures/junit.xsd; and the human report's table and explanations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/native.js';
import { cacheDir, hashOf, publishDir, withLock } from '../../src/builds/cache.js';
import { humanReport, resultLine } from '../../src/report/human.js';
import { byGroup, summarize, type RunReport } from '../../src/report/json.js';
import { ktapName, ktapReport } from '../../src/report/ktap.js';
import { junitReport } from '../../src/report/junit.js';
import type { Result } from '../../src/suite/types.js';

const LINUX_SOURCE = '/usr/src/linux-source-6.12.tar.xz';
const KUNIT_DIR = 'linux-source-6.12/tools/testing/kunit';
const XSD = join(packageRoot, 'test', 'fixtures', 'junit.xsd');

const SKIP_REASON = 'needs swap: the guest has none (swap=none) & <no> "zram"';
const results: Result[] = [
  { id: 'reclaim.anon-private', title: 'reclaim anon pages', status: 'pass', durationMs: 120 },
  {
    id: 'reclaim.file-shared',
    title: 'reclaim shared file pages',
    status: 'fail',
    reason: "page 0x7f0000001000 still resident after reclaim <&\"'>\x01",
    findings: [
      {
        step: '3: reclaim P file',
        process: 'P (pid 123)',
        addr: '0x7f0000001000',
        vma: 'm1 file-shared 0x7f0000000000-0x7f0000020000 (32 pages)',
        expected: 'not present, or swapped (model: reclaimable, refcount 1)',
        observed: 'present, pfn 0x4242, flags LRU|ACTIVE',
        rule: '§6.1 row 10',
        explain: 'an unmapped-elsewhere file page must leave memory on reclaim',
      },
      {
        step: '3: reclaim P file',
        process: 'P (pid 123)',
        addr: '0x7f0000002000',
        vma: 'm1 file-shared 0x7f0000000000-0x7f0000020000 (32 pages)',
        expected: 'not present',
        observed: 'present, dirty\nand # locked',
        rule: '§6.1 row 11',
        explain: 'dirty file pages are written back and then dropped',
      },
    ],
    durationMs: 2345,
  },
  { id: 'reclaim.swap#2', status: 'skip', reason: SKIP_REASON, durationMs: 0 },
  { id: 'thp.split', status: 'error', reason: 'agent request timed out after 60 s:\nkernel BUG at mm/huge_memory.c:1234\nCall trace: ...', durationMs: 60001 },
  { id: 'thp.collapse', status: 'pass', durationMs: 15 },
  { id: 'hugetlb.map', status: 'skip', reason: 'needs hugetlb pages', durationMs: 1 },
  { id: 'hugetlb.unmap', status: 'skip', reason: 'needs hugetlb pages', durationMs: 1 },
];
const report: RunReport = {
  kernel: { release: '6.12.57-reclaim', version: '#1 SMP PREEMPT', image: '/cache/images/abc/Image', cacheKey: 'abc', patches: 'default' },
  features: { interfaces: { procReclaim: true, shrinkmem: false }, swap: { totalKb: 262144 } },
  results,
  summary: summarize(results),
  timings: { bootMs: 3100, suiteMs: 62482 },
};
const GROUPS = ['reclaim', 'thp', 'hugetlb'];

// ---------------------------------------------------------------- KTAP

/** tools/testing/kunit from the Debian source tarball, extracted once into the cache. */
async function kunitTools(): Promise<string> {
  assert.ok(existsSync(LINUX_SOURCE), `${LINUX_SOURCE} missing: run 'reclaim-harness doctor --fix' (package linux-source-6.12)`);
  const st = statSync(LINUX_SOURCE);
  const dest = join(cacheDir('kunit-tools'), hashOf([LINUX_SOURCE, String(st.size), String(st.mtimeMs)]).slice(0, 16));
  const dir = join(dest, KUNIT_DIR);
  if (existsSync(join(dir, 'kunit_parser.py'))) return dir;
  await withLock('kunit-tools', async () => {
    if (existsSync(join(dir, 'kunit_parser.py'))) return;
    await publishDir(dest, async (tmp) => {
      await promisify(execFile)('tar', ['-xJf', LINUX_SOURCE, '-C', tmp, '--wildcards', `${KUNIT_DIR}/*`]);
    });
  });
  return dir;
}

interface KTest {
  name: string;
  status: string;
  counts: { passed: number; failed: number; crashed: number; skipped: number; errors: number };
  log: string[];
  subtests: KTest[];
}

// kunit_printer binds its Printer to sys.stdout when imported: import with stdout
// pointing at stderr, so the parser's progress goes there and the JSON here.
const PARSE = `
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
real_stdout, sys.stdout = sys.stdout, sys.stderr
import kunit_parser
sys.stdout = real_stdout
top = kunit_parser.parse_run_tests(sys.stdin.read().splitlines())
def tree(t):
    return {'name': t.name, 'status': t.status.name, 'counts': dataclasses.asdict(t.counts),
            'log': t.log, 'subtests': [tree(s) for s in t.subtests]}
json.dump(tree(top), sys.stdout)
`;

function kunitParse(tools: string, ktap: string): { top: KTest; stderr: string } {
  const r = spawnSync('python3', ['-c', PARSE, tools], { input: ktap, encoding: 'utf8' });
  assert.equal(r.status, 0, `kunit_parser failed: ${r.error ?? r.stderr}`);
  return { top: JSON.parse(r.stdout) as KTest, stderr: r.stderr };
}

const KUNIT_STATUS: Record<Result['status'], string> = { pass: 'SUCCESS', fail: 'FAILURE', skip: 'SKIPPED', error: 'FAILURE' };

test('KTAP: the kernel kunit_parser.py reads it without errors and with the same verdicts', async () => {
  const tools = await kunitTools();
  const ktap = ktapReport(report);
  const { top, stderr } = kunitParse(tools, ktap);

  assert.equal(top.counts.errors, 0, `parse errors:\n${stderr}\n${ktap}`);
  assert.doesNotMatch(stderr, /\[ERROR\]/);
  assert.equal(top.status, 'FAILURE');
  assert.deepEqual(top.subtests.map((s) => s.name), GROUPS);
  assert.deepEqual(top.subtests.map((s) => s.status), ['FAILURE', 'FAILURE', 'SKIPPED']);
  const leaves = top.subtests.flatMap((s) => s.subtests.map((t) => [t.name, t.status]));
  assert.deepEqual(leaves, results.map((r) => [ktapName(r.id), KUNIT_STATUS[r.status]]));
  assert.deepEqual(
    { passed: top.counts.passed, failed: top.counts.failed, skipped: top.counts.skipped, crashed: top.counts.crashed },
    { passed: 2, failed: 2, skipped: 3, crashed: 0 },
  );

  // The failure's diagnostics belong to it, finding by finding.
  const failLog = top.subtests[0]!.subtests[1]!.log.join('\n');
  assert.match(failLog, /FAIL reclaim\.file-shared: page 0x7f0000001000 still resident/);
  assert.match(failLog, /finding 2 of 2:/);
  assert.match(failLog, /rule: §6\.1 row 11/);
  assert.match(failLog, /observed: present, dirty \/ and # locked/);
  assert.match(top.subtests[1]!.subtests[0]!.log.join('\n'), /ERROR thp\.split: agent request timed out[^]*kernel BUG at mm\/huge_memory\.c:1234/);
});

test('KTAP: text details the parser does not keep', () => {
  const ktap = ktapReport(report);
  const lines = ktap.split('\n');
  assert.equal(lines[0], 'KTAP version 1');
  assert.equal(lines[1], '1..3');
  assert.ok(lines.includes(`  ok 3 reclaim.swap_2 # SKIP ${SKIP_REASON}`), ktap);
  assert.ok(lines.includes('ok 3 hugetlb # SKIP'), ktap);
  assert.ok(lines.includes('not ok 1 reclaim'), ktap);
  assert.equal(lines.at(-2), '# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:3 error:1');
  for (const l of lines) {
    const m = /^\s*(?:not )?ok \d+ (.*?)(?: # SKIP.*)?$/.exec(l);
    if (m) assert.doesNotMatch(m[1]!, /#/, l);
    assert.doesNotMatch(l, /[\x00-\x08\x0b-\x1f\x7f]/, 'control character in KTAP');
  }
});

test('KTAP: the check catches a malformed document', async () => {
  const tools = await kunitTools();
  const broken = ktapReport(report).replace('  ok 3 reclaim.swap_2', '  ok 7 reclaim.swap_2');
  const { top } = kunitParse(tools, broken);
  assert.ok(top.counts.errors > 0, 'a wrong test number must count as a parse error');
});

// ---------------------------------------------------------------- JUnit

function xmllint(t: { after(fn: () => void): void }, xml: string): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'reclaim-junit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'results.junit.xml');
  writeFileSync(file, xml);
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  assert.ok(!r.error, `xmllint: ${r.error} (Debian package libxml2-utils; 'reclaim-harness doctor --fix')`);
  return { ok: r.status === 0, out: r.stderr };
}

const count = (xml: string, re: RegExp) => [...xml.matchAll(re)].length;

test('JUnit: valid against the schema, with the counts of the report', (t) => {
  const xml = junitReport(report, { timestamp: new Date('2025-01-02T03:04:05Z'), hostname: 'builder' });
  const v = xmllint(t, xml);
  assert.ok(v.ok, `${v.out}\n${xml}`);

  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="reclaim-harness" tests="7" failures="1" errors="1" skipped="3" time="62\.483">/);
  assert.deepEqual([...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1]), GROUPS);
  assert.match(xml, /<testsuite name="reclaim" tests="3" failures="1" errors="0" skipped="1" time="2\.465" timestamp="2025-01-02T03:04:05" hostname="builder">/);
  assert.match(xml, /<testsuite name="thp" tests="2" failures="0" errors="1" skipped="0" /);
  assert.match(xml, /<testsuite name="hugetlb" tests="2" failures="0" errors="0" skipped="2" /);
  assert.equal(count(xml, /<testcase /g), 7);
  assert.equal(count(xml, /<failure /g), 1);
  assert.equal(count(xml, /<error /g), 1);
  assert.equal(count(xml, /<skipped /g), 3);
  assert.equal(count(xml, /<property name="kernel\.release" value="6\.12\.57-reclaim"\/>/g), 3);
  assert.match(xml, /<testcase classname="reclaim-harness\.thp" name="thp\.split" time="60\.001">\n {6}<error message="agent request timed out after 60 s:" type="error">/);
});

test('JUnit: special characters escaped, forbidden ones dropped', (t) => {
  const xml = junitReport(report);
  assert.ok(xmllint(t, xml).ok);
  assert.doesNotMatch(xml, /\x01/);
  assert.match(xml, /<failure message="page 0x7f0000001000 still resident after reclaim &lt;&amp;&quot;&apos;&gt;" type="mismatch">page 0x7f0000001000 still resident after reclaim &lt;&amp;"'&gt;\n/);
  assert.match(xml, /<skipped message="needs swap: the guest has none \(swap=none\) &amp; &lt;no&gt; &quot;zram&quot;"\/>/);
  assert.match(xml, /finding 2 of 2:\n {2}step: 3: reclaim P file\n[^]*\n {2}rule: §6\.1 row 11\n/);
  // A multi-line reason survives in an attribute.
  const multi = junitReport({ ...report, results: [{ id: 'a.b', status: 'skip', reason: 'one\ntwo\tthree', durationMs: 0 }] });
  assert.match(multi, /<skipped message="one&#10;two&#9;three"\/>/);
  assert.ok(xmllint(t, multi).ok);
});

test('JUnit: the schema rejects what the format does not allow', (t) => {
  const good = junitReport(report);
  const broken = {
    'unknown child of testcase': good.replace('<skipped message="needs hugetlb pages"/>', '<skipped message="needs hugetlb pages"/><bogus/>'),
    'skipped and failure together': good.replace('<skipped message="needs hugetlb pages"/>', '<skipped/><failure message="x" type="y">z</failure>'),
    'testcase without name': good.replace('name="thp.collapse" ', ''),
    'negative count': good.replace('tests="7"', 'tests="-1"'),
    'testsuite as root': good.replace(/^[^]*?(<testsuite )/, '<?xml version="1.0" encoding="UTF-8"?>\n$1').replace(/<testsuite name="thp"[^]*$/, ''),
  };
  for (const [what, xml] of Object.entries(broken)) {
    assert.notEqual(xml, good, what);
    assert.equal(xmllint(t, xml).ok, false, `schema accepted a document with ${what}`);
  }
});

// ---------------------------------------------------------------- human

test('human: result lines, a table line per group, failures explained', () => {
  const text = humanReport(report);
  const lines = text.split('\n');
  for (const r of results) assert.ok(lines.some((l) => l.startsWith(`${r.status.toUpperCase().padEnd(5)} ${r.id} `)), r.id);
  assert.ok(lines.some((l) => /^group\s+pass\s+fail\s+skip\s+error$/.test(l)), text);
  assert.ok(lines.some((l) => /^reclaim\s+1\s+1\s+1\s+0$/.test(l)), text);
  assert.ok(lines.some((l) => /^thp\s+1\s+0\s+0\s+1$/.test(l)), text);
  assert.ok(lines.some((l) => /^hugetlb\s+0\s+0\s+2\s+0$/.test(l)), text);
  assert.ok(lines.some((l) => /^total\s+2\s+1\s+3\s+1$/.test(l)), text);

  const start = lines.indexOf('FAIL reclaim.file-shared (reclaim shared file pages)');
  assert.ok(start > 0, text);
  const block = lines.slice(start, lines.indexOf('', start)).join('\n');
  assert.match(block, /finding 1 of 2\n/);
  assert.match(block, /^ {4}page {6}0x7f0000001000$/m);
  assert.match(block, /^ {4}vma {7}m1 file-shared 0x7f0000000000-0x7f0000020000 \(32 pages\)$/m);
  assert.match(block, /^ {4}expected {2}not present, or swapped \(model: reclaimable, refcount 1\)$/m);
  assert.match(block, /^ {4}observed {2}present, pfn 0x4242, flags LRU\|ACTIVE$/m);
  assert.match(block, /^ {4}rule {6}§6\.1 row 10$/m);
  assert.match(block, /^ {4}rule {6}§6\.1 row 11$/m);
  assert.match(block, /^ {4}observed {2}present, dirty \/ and # locked$/m);
  assert.match(block, /^ {4}why {7}dirty file pages are written back and then dropped$/m);
  assert.match(text, /\nERROR thp\.split:\nagent request timed out/);
  assert.match(text, /2 passed, 1 failed, 3 skipped, 1 errors/);
  for (const l of lines.filter((l) => !l.startsWith('kernel ') && !/^(agent|kernel BUG|Call trace)/.test(l))) {
    assert.ok(l.length <= 100, `longer than 100 columns: ${l}`);
  }
});

test('human: a long reason wraps under its result line', () => {
  const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
  const text = humanReport({ ...report, results: [{ id: 'g.long', status: 'skip', reason: long, durationMs: 3 }], summary: { pass: 0, fail: 0, skip: 1, error: 0 } });
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith('SKIP  g.long '));
  assert.ok(i > 0 && !lines[i]!.includes('word0'), text);
  assert.equal(lines.slice(i + 1, i + 4).join(' ').replace(/\s+/g, ' ').trim(), long);
  for (const l of lines.slice(1)) assert.ok(l.length <= 100, l);
});

test('human: --repeat lists each scenario whose verdict changed, and the retries', () => {
  const rep: RunReport = { ...report, repeat: { rounds: 3, of: 3, retried: 2, changed: [{ id: 'reclaim.anon', verdicts: ['pass', 'fail', 'pass'], reason: 'page 3 lost' }] } };
  const text = humanReport(rep);
  assert.match(text, /\n3 of 3 rounds in one boot: 1 scenario\(s\) changed verdict; 2 scenario run\(s\) needed another try to reach a precondition\n {2}reclaim\.anon {29}pass fail pass: page 3 lost\n/);
  assert.match(humanReport({ ...report, repeat: { rounds: 10, of: 10, retried: 0, changed: [] } }), /10 of 10 rounds in one boot: no scenario changed verdict/);
  assert.doesNotMatch(humanReport(report), /rounds in one boot/);
  assert.match(resultLine({ id: 'mrelease.x', status: 'pass', durationMs: 5, retried: ['precondition not reached: z'] }), /PASS {2}mrelease\.x +5 ms {2}\(1 earlier try did not reach the precondition\)$/);
});

test('a --depth full result is grouped apart from its default-depth group', () => {
  const rs: Result[] = [{ id: 'shrinkmem.bounds', status: 'pass', durationMs: 1 }, { id: 'shrinkmem.cap', status: 'fail', durationMs: 1, depth: 'full' }];
  assert.deepEqual([...byGroup(rs)].map(([g, list]) => [g, list.map((r) => r.id)]), [['shrinkmem', ['shrinkmem.bounds']], ['shrinkmem.full', ['shrinkmem.cap']]]);
});
