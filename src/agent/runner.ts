// The on-target runner: the whole suite and its model on this machine, no host.
//
//   node runner.cjs [--filter RE] [--depth default|full] [--swap MiB|none] [--scratch DIR]
//                   [--expect LIST] [--output DIR] [--lava]
//
// KTAP on stdout at the end, a line per result on stderr as it comes. With --lava every result
// is also a LAVA test case, signalled through /dev/kmsg: the kernel log serialises it with the
// kernel's own messages, which would otherwise cut into a signal on a shared console.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batchReplies, GuestError, type Channel } from '../protocol/channel.js';
import { suite } from '../scenarios/index.js';
import { runSuite, selectScenarios } from '../suite/runner.js';
import { parseExpect } from '../protocol/kconfig.js';
import type { Depth, Result } from '../suite/types.js';
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

async function main(argv: string[]): Promise<number> {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      filter: { type: 'string' },
      depth: { type: 'string', default: 'default' },
      swap: { type: 'string', default: '256' },
      scratch: { type: 'string', default: '/mnt/scratch' },
      output: { type: 'string' },
      expect: { type: 'string' },
      lava: { type: 'boolean', default: false },
    },
  });
  if (o.depth !== 'default' && o.depth !== 'full') throw new Error(`--depth ${o.depth}: want default or full`);
  if (o.swap !== 'none' && !/^\d+$/.test(o.swap!)) throw new Error(`--swap ${o.swap}: want a size in MiB or none`);
  // the interfaces the kernel must have: as the host knew them (the lava command), or as the user says
  const expected = o.expect === undefined ? new Map() : parseExpect(o.expect);
  const scenarios = selectScenarios(suite, o.filter, o.depth as Depth);
  if (!scenarios.length) throw new Error(`--filter ${o.filter} matches no scenario`);
  stage({ swap: o.swap === 'none' ? 'none' : Number(o.swap), scratch: o.scratch! });
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
      process.stderr.write(`reclaim-runner: ${e.message}\n`);
      process.exit(2);
    },
  );
}
