// Known-bug kernels: the shipped mutants, the kill rule, the no-op kernels' list (test/vm/mutants.test.ts kills a subset for real).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isNoop, killers, listMutants, noopPasses, noopTable, type MutantResult } from '../../src/mutation/handwritten.js';
import type { Result, Scenario } from '../../src/suite/types.js';

test('at least 12 mutants ship, each one small commit with a one-line description', () => {
  const ms = listMutants();
  assert.ok(ms.length >= 12, `${ms.length} mutants`);
  for (const m of ms) {
    const text = readFileSync(m.file, 'utf8');
    assert.match(text, /^From [0-9a-f]{40} /, `${m.name}: made with git format-patch`);
    assert.ok(m.description.length > 10 && !m.description.includes('\n'), `${m.name}: description '${m.description}'`);
    const changed = text.split('\n').filter((l) => /^[-+](?![-+])/.test(l)).length;
    assert.ok(changed > 0 && changed <= 40, `${m.name}: ${changed} changed lines`);
  }
  assert.deepEqual(listMutants(undefined, '^02-').map((m) => m.name), ['02-range-end-inclusive']);
});

test('kill rule: from Result.kind: a FAIL kills, and so does a step or cleanup that timed out, or a crash; a missed precondition, a harness error and what follows a loss do not', () => {
  const r = (id: string, status: Result['status'], kind?: Result['kind'], reason?: string): Result => ({ id, status, kind, reason, durationMs: 1 });
  const res = [
    r('a', 'pass'),
    r('b', 'skip', undefined, 'kernel lacks X'),
    r('c', 'fail', 'fail', 'page kept'),
    r('d', 'error', 'timeout', "step 'write': write: ETIMEDOUT: no reply in 20000 ms"),
    r('e', 'error', 'lost', 'guest lost earlier: ETIMEDOUT'),
    r('f', 'error', 'harness', "step 'subject': subject: EAGENT: bad reply"),
    r('g', 'error', 'crash', 'guest: ECRASH: kernel soft lockup:\n...'),
    r('h', 'error', 'timeout', 'cleanup: await_state: ETIMEDOUT: pid 81 still in state R'),
    // the reason's text no longer decides: a precondition that quotes an errno is no kill
    r('i', 'error', 'precondition', 'precondition not reached: process_madvise gave ETIMEDOUT'),
  ];
  assert.deepEqual(killers(res).map((k) => k.id), ['c', 'd', 'g', 'h']);
  assert.match(killers(res)[1]!.why, /step 'write'.*ETIMEDOUT/);
  assert.deepEqual(killers([r('a', 'pass'), r('b', 'skip')]), []);
});

test('no-op kernels: one per patched interface ships; the scenarios that pass on all of them are listed, each with why, or flagged', () => {
  assert.deepEqual(listMutants().filter(isNoop).map((m) => m.name), ['22-noop-proc-reclaim', '23-noop-pmadv-range', '24-noop-dontneed-dying', '25-noop-shrinkmem']);
  const m = (name: string, passed: string[]): MutantResult => ({ name, file: name, description: name, verdict: 'killed', killedBy: [], buildSeconds: 0, runSeconds: 0, passed });
  const sc = (id: string, needs: Scenario['needs'], noEffect?: string): Scenario => ({ id, title: id, needs, noEffect, run: async () => {} });
  const scenarios = [sc('errno', { feature: 'proc-reclaim' }, 'errno row'), sc('upstream', {}), sc('claims', { feature: 'shrinkmem' }), sc('caught', { feature: 'proc-reclaim' })];
  const passes = noopPasses([m('22-noop-a', ['errno', 'upstream', 'claims', 'caught']), m('05-other', []), m('23-noop-b', ['errno', 'upstream', 'claims'])], scenarios, ['22-noop-a', '23-noop-b'])!;
  assert.deepEqual(passes.passes.map((p) => [p.id, p.reason !== undefined]), [['errno', true], ['upstream', true], ['claims', false]]);
  assert.match(noopTable(passes), /^3 scenario\(s\) pass on every no-op kernel \(22-noop-a, 23-noop-b\); 1 claim an effect/);
  assert.match(noopTable(passes), /claims: UNEXPLAINED/);
  // a partial run (--only) says which no-op kernels the list is the intersection of
  const partial = noopPasses([m('22-noop-a', ['errno', 'caught'])], scenarios, ['22-noop-a', '23-noop-b', '24-noop-c'])!;
  assert.deepEqual(partial.missing, ['23-noop-b', '24-noop-c']);
  assert.match(noopTable(partial), /^2 scenario\(s\) pass on the 1 no-op kernel\(s\) that ran \(22-noop-a; not run: 23-noop-b, 24-noop-c\)/);
  assert.equal(noopPasses([m('05-other', ['a'])], scenarios), undefined, 'no no-op kernel ran: nothing to say');
});
