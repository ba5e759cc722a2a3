// The on-target runner: the whole suite and its model on this machine, no host.
//
//   node runner.cjs [--filter RE] [--depth default|full] [--swap SIZE|none] [--scratch DIR]
//                   [--expect LIST] [--output DIR] [--lava]   (checked as the host checks them)
//
// KTAP on stdout at the end, a line per result on stderr as it comes. With --lava every result
// is also a LAVA test case, signalled through /dev/kmsg: the kernel log serialises it with the
// kernel's own messages, which would otherwise cut into a signal on a shared console.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batchReplies, GuestError, type Channel } from '../protocol/channel.js';
import { suite } from '../scenarios/index.js';
import { runSuite, selectScenarios } from '../suite/runner.js';
import { parseOptions, suiteEntries, UsageError, type OptionTable, type SuiteOptions } from '../suite/options.js';
import type { Result } from '../suite/types.js';
import { resultLine } from '../report/human.js';
import { summarize, type RunReport } from '../report/json.js';
import { ktapReport } from '../report/ktap.js';
import { lavaSignal } from '../report/lava.js';
import { agentRequest, type AgentRequest, type Args, type Op, type Result as Reply } from '../protocol/ops.js';
import { errorOf, features, handle, serve, stage, unstage } from './ops.js';

/** The suite and the agent in one process: a request is a call, its reply a JSON copy. */
class InProcess implements Channel {
  readonly features = features();
  readonly alive = true;
  readonly lostReason = undefined;

  async request<K extends Op>(op: K, args: Args<K>): Promise<Reply<K>> {
    try {
      // a JSON copy, as a reply over a channel would be
      const result = await handle(agentRequest(op, args));
      return result === undefined ? result : JSON.parse(JSON.stringify(result));
    } catch (e) {
      const x = errorOf(e);
      throw new GuestError(op, x.code, x.errno, x.message);
    }
  }

  async batch(reqs: readonly AgentRequest[]): Promise<Array<unknown | GuestError>> {
    return batchReplies(reqs, (await this.request('batch', { reqs: [...reqs] })).results);
  }
}

function signal(r: Result): void {
  // opened for each signal: /dev/kmsg rate-limits writes per open file
  writeFileSync('/dev/kmsg', lavaSignal(r));
}

interface RunnerOptions extends SuiteOptions {
  output?: string;
  lava: boolean;
}

/** The runner's options: the suite's own, as the host's command line checks them, and two of its own. */
const RUNNER_OPTIONS: OptionTable<RunnerOptions> = {
  ...suiteEntries<RunnerOptions, string>({ depth: [], filter: [], expect: [], swap: [], scratch: [] }, suite, () => true),
  output: { type: 'string', commands: [], arg: 'DIR', help: 'results.json and results.ktap also go here', set: (v, o) => void (o.output = v) },
  lava: { type: 'boolean', commands: [], help: 'every result also a LAVA test case, through /dev/kmsg', set: (_v, o) => void (o.lava = true) },
};

async function main(argv: string[]): Promise<number> {
  const o: RunnerOptions = { depth: 'default', swap: 256, scratch: '/mnt/scratch', lava: false };
  const { problems } = parseOptions(RUNNER_OPTIONS, argv, o);
  if (problems.length) throw new UsageError(problems);
  // the interfaces the kernel must have: as the host knew them (the lava command), or as the user says
  const expected = new Map((o.expect ?? []).map((f) => [f, '--expect'] as const));
  const scenarios = selectScenarios(suite, o.filter, o.depth);
  stage({ swap: o.swap, scratch: o.scratch });
  // Ctrl-C, or LAVA's timeout: the machine put back before the end
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      unstage('reclaim-runner');
      process.stderr.write(`reclaim-runner: ${sig}: stopped; swap and knobs put back\n`);
      process.exit(130);
    });
  }
  const results: Result[] = [];
  try {
    const t0 = Date.now();
    const channel = new InProcess();
    const kernel = channel.features.kernel;
    process.stderr.write(`reclaim-runner: ${scenarios.length} scenario(s) on ${kernel.release}${o.lava ? ', LAVA test cases through /dev/kmsg' : ''}\n`);
    await runSuite(channel, scenarios, (r) => {
      results.push(r);
      process.stderr.write(resultLine(r) + '\n');
      if (o.lava) signal(r);
    }, expected);
    const report: RunReport = {
      kernel: { release: kernel.release, version: kernel.version, procVersion: kernel.procVersion, image: 'running kernel (on-target runner)' },
      startedAt: new Date(t0).toISOString(),
      target: { kind: 'on-target', console: false },
      features: channel.features,
      results,
      summary: summarize(results),
      timings: { bootMs: 0, suiteMs: Date.now() - t0 },
    };
    const ktap = ktapReport(report);
    process.stdout.write(ktap);
    if (o.output) {
      mkdirSync(o.output, { recursive: true });
      writeFileSync(join(o.output, 'results.json'), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(join(o.output, 'results.ktap'), ktap);
    }
    const s = report.summary;
    process.stderr.write(`reclaim-runner: ${s.pass} pass, ${s.fail} fail, ${s.skip} skip, ${s.error} error in ${(report.timings.suiteMs / 1000).toFixed(1)} s\n`);
    return s.fail || s.error ? 1 : 0;
  } finally {
    unstage('reclaim-runner');
  }
}

if (process.argv[2] === '--worker') {
  // operations as another uid, started by the in-process agent
  serve(process.stdin, (l) => process.stdout.write(l + '\n'), () => process.exit(0));
} else {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      for (const p of e instanceof UsageError ? e.problems : [e.message]) process.stderr.write(`reclaim-runner: ${p}\n`);
      process.exit(2);
    },
  );
}
