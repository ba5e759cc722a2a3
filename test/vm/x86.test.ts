// --arch x86_64: the same series and suite on an x86-64 guest (microvm; KVM where a KVM guest
// boots, TCG otherwise), and a shipped mutant killed there too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/json.js';
import { kcidbProblems } from '../../src/report/kcidb.js';
import { kvmProblem } from '../../src/builds/arch.js';
import { selectScenarios } from '../../src/suite/runner.js';
import { suite } from '../../src/scenarios/index.js';
import type { MutantResult } from '../../src/mutation/handwritten.js';
import { cli, scratchDir } from '../helpers/cli.js';

test('run --arch x86_64: the default suite passes on the x86-64 guest, and the reports say where it ran', async (t) => {
  const dir = scratchDir(t, 'reclaim-x86-');
  const r = await cli(['run', '--arch', 'x86_64', '--format', 'json', '--output', dir]);
  const rep = JSON.parse(r.stdout) as RunReport;
  assert.deepEqual(rep.results.filter((x) => x.status !== 'pass'), [], r.stderr.slice(-3000));
  assert.equal(r.code, 0);
  assert.deepEqual(rep.results.map((x) => x.id).sort(), selectScenarios(suite, undefined, 'default').map((s) => s.id).sort());
  assert.match(rep.kernel.image!, /\/bzImage$/);
  assert.equal((rep.features.kernel as { arch: string }).arch, 'x64', 'the agent ran on x86-64');
  assert.equal(rep.target?.arch, 'x86_64');
  assert.ok(rep.target?.accel === 'kvm' || rep.target?.accel === 'tcg', String(rep.target?.accel));
  // TCG where KVM could have been tried says why it was not
  if (rep.target.accel === 'tcg' && !kvmProblem('x86_64')) assert.match(rep.target.note ?? '', /^TCG, not KVM: /);
  const how = rep.target.accel.toUpperCase();
  assert.match(r.stderr, new RegExp(`booting x86_64 under ${how}`));
  assert.match(readFileSync(join(dir, 'results.ktap'), 'utf8'), new RegExp(`^# reclaim-harness: target qemu x86_64 under ${how}$`, 'm'));
  const kcidb = JSON.parse(readFileSync(join(dir, 'results.kcidb.json'), 'utf8'));
  assert.deepEqual(kcidbProblems(kcidb), []);
  assert.equal(kcidb.builds[0].architecture, 'x86_64');
  assert.doesNotMatch(kcidb.builds[0].compiler, /aarch64/);
  assert.match(readFileSync(rep.kernel.config!, 'utf8'), /^CONFIG_X86_64=y$/m);
});

test('mutants --arch x86_64 builds the mutant for x86-64 and kills it there', async (t) => {
  const dir = scratchDir(t, 'reclaim-x86-mutants-');
  const r = await cli(['mutants', '--arch', 'x86_64', '--only', '^13-', '--filter', '^shrinkmem\\.', '--output', dir]);
  const res = (JSON.parse(readFileSync(join(dir, 'mutants.json'), 'utf8')) as { results: MutantResult[] }).results;
  assert.deepEqual(res.map((m) => [m.name, m.verdict]), [['13-shrinkmem-ignores-size', 'killed']], r.stderr.slice(-3000));
  const rep = JSON.parse(readFileSync(join(dir, '13-shrinkmem-ignores-size', 'results.json'), 'utf8')) as RunReport;
  assert.equal(rep.target?.arch, 'x86_64');
  assert.match(rep.kernel.image!, /\/bzImage$/);
  assert.equal(r.code, 0);
});
