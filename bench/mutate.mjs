#!/usr/bin/env node
// The mechanical-mutant set against its budget, measured in one run: the
// default suite once (one boot), then `mutate` over every mutant. Writes
// out/bench/mutate.json and prints the figures; exit 1 over 30 minutes or
// under a 90% score.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUDGET_MIN = 30;
const cli = (args) => {
  const t0 = Date.now();
  let code = 0;
  try {
    execFileSync('node', ['dist/src/cli/index.js', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    code = e.status ?? 1;
  }
  return { seconds: (Date.now() - t0) / 1000, code };
};
mkdirSync('out/bench', { recursive: true });
const suite = cli(['run', '--format', 'json', '--output', 'out/bench/run']);
const mutate = cli(['mutate', '--output', 'out/bench/mutate']);
const m = JSON.parse(readFileSync('out/bench/mutate/mutate.json', 'utf8'));
const count = (v) => m.results.filter((r) => r.verdict === v).length;
const ran = m.results.length - count('equivalent') - count('not run');
const out = {
  suiteSeconds: suite.seconds,
  mutateSeconds: mutate.seconds,
  mutateOverSuite: +(mutate.seconds / suite.seconds).toFixed(1),
  mutants: m.generated,
  equivalent: count('equivalent'),
  killed: count('killed'),
  score: +((count('killed') / ran) * 100).toFixed(1),
  phases: m.timings,
  budgetMinutes: BUDGET_MIN,
};
writeFileSync(join('out/bench', 'mutate.json'), JSON.stringify(out, null, 2) + '\n');
const run = JSON.parse(readFileSync('out/bench/run/results.json', 'utf8'));
console.log(`suite (build cached, boot, ${run.results.length} scenarios): ${suite.seconds.toFixed(0)} s`);
console.log(`mutate, all ${m.generated} mutants: ${(mutate.seconds / 60).toFixed(1)} min = ${out.mutateOverSuite} x the suite (budget ${BUDGET_MIN} min); score ${out.score}%`);
console.log(`  schemata build ${m.timings.buildSeconds.toFixed(0)} s, coverage ${m.timings.coverageSeconds.toFixed(0)} s, mutants ${m.timings.mutantSeconds.toFixed(0)} s`);
const met = { time: mutate.seconds <= BUDGET_MIN * 60, score: mutate.code === 0 };
console.log(`within ${BUDGET_MIN} min: ${met.time ? 'yes' : 'NO'}; score at least 90%: ${met.score ? 'yes' : 'NO'}`);
process.exit(met.time && met.score ? 0 : 1);
