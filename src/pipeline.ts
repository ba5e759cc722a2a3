// `reclaim-harness run`: kernel + image -> boot -> suite -> reports.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildKernel, defaultPatches, expectedOf, readSeries, type KernelBuild } from './builds/kernel.js';
import { bundleAgent } from './builds/guest/agent-bundle.js';
import { buildImage, withModules } from './builds/guest/image.js';
import { debKernel, guestModules } from './builds/modules.js';
import { imageRelease } from './builds/kernel-image.js';
import { GuestError, makeScratchDisk } from './target/guest.js';
import type { AgentChannel } from './target/channel.js';
import { runningKernel, startTarget, type TargetChoice } from './target/select.js';
import { sshName } from './target/ssh.js';
import { chooseAccel, interactive } from './target/qemu.js';
import { progress } from './log.js';
import { foldRounds, kindOf, runSuite, selectScenarios } from './suite/runner.js';
import type { Patched } from './protocol/kconfig.js';
import { suite } from './scenarios/index.js';
import { humanReport, resultLine } from './report/human.js';
import { summarize, type RunReport } from './report/json.js';
import { ktapReport } from './report/ktap.js';
import { junitReport } from './report/junit.js';
import { kcidbReport } from './report/kcidb.js';
import type { Depth, Result } from './suite/types.js';
import { DEFAULT_ARCH, type Arch, type AccelChoice } from './builds/arch.js';

/** What `run --format` prints on stdout at the end; --output gets all of them. */
export const formats = ['human', 'json', 'ktap', 'junit', 'kcidb'] as const;
export type Format = (typeof formats)[number];

export interface RunOptions extends TargetChoice {
  /** an Image, or a linux-image-*.deb holding one */
  kernel?: string;
  /** the kernel's modules (a .deb, lib/modules/RELEASE, a tarball); a .deb kernel brings its own */
  modules?: string;
  kernelSrc?: string;
  patches?: string;
  /** patches after the series (a mutant) */
  extraPatches?: string[];
  /** the guest's architecture; default arm64 */
  arch?: Arch;
  /** no per-result lines and no report on stdout (the files are still written) */
  quiet?: boolean;
  filter?: string;
  /** 'full' adds the scenarios too slow for the default suite (mutate always runs them) */
  depth?: Depth;
  /** the suite this many times in one boot; verdicts that change are listed */
  repeat?: number;
  /** interfaces the kernel must have, whatever its config says (--expect) */
  expect?: Patched[];
  memMiB: number;
  smp: number;
  swap: number | 'none';
  timeoutMs: number;
  format: Format;
  output: string;
}

/** The kernel (given, or built and cached) and the guest image, with the kernel's modules if it has them. */
export async function prepare(o: Pick<RunOptions, 'kernel' | 'modules' | 'kernelSrc' | 'patches' | 'extraPatches' | 'arch'> & { swap?: RunOptions['swap'] }) {
  let kernel: Partial<KernelBuild> & { image: string };
  if (o.kernel) kernel = { image: o.kernel.endsWith('.deb') ? await debKernel(resolve(o.kernel)) : resolve(o.kernel) };
  else kernel = await buildKernel({ kernelSrc: o.kernelSrc, patches: o.patches, extraPatches: o.extraPatches, arch: o.arch });
  progress('run', `kernel ${kernel.image}${kernel.cached ? ' (cached)' : ''}`);
  let image = await buildImage({ agentBundle: await bundleAgent(), arch: o.arch });
  const modules = o.modules ?? (o.kernel?.endsWith('.deb') ? o.kernel : undefined);
  if (modules) {
    const release = imageRelease(kernel.image);
    image = await withModules(image, await guestModules(resolve(modules), release, o.swap !== 'none'));
  }
  progress('run', `guest image ${image.initrd} (${(image.bytes / 1048576).toFixed(1)} MiB${image.cached ? ', cached' : ''})`);
  return { kernel, image };
}


/** `reclaim-harness shell`: the same guest, with a shell on this terminal. */
export async function shell(o: Pick<RunOptions, 'kernel' | 'modules' | 'kernelSrc' | 'patches' | 'memMiB' | 'smp' | 'swap' | 'arch'>): Promise<number> {
  const { kernel, image } = await prepare(o);
  const tmp = mkdtempSync(join(tmpdir(), 'reclaim-shell-'));
  try {
    const disk = await makeScratchDisk(join(tmp, 'scratch.img'), 128);
    process.stderr.write('reclaim-harness: guest shell on this terminal; `poweroff -f` or Ctrl-A X ends it\n');
    return await interactive({ arch: o.arch, accel: (await chooseAccel(o.arch ?? DEFAULT_ARCH, kernel.image)).accel, kernel: kernel.image, initrd: image.initrd, memMiB: o.memMiB, smp: o.smp, scratchDisk: disk, append: `reclaim.swap=${o.swap} reclaim.mode=shell` });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function run(o: RunOptions): Promise<number> {
  const outDir = resolve(o.output);
  mkdirSync(outDir, { recursive: true });
  const scenarios = selectScenarios(suite, o.filter, o.depth);
  if (!scenarios.length) throw new Error(`--filter ${o.filter} matches no scenario at --depth ${o.depth ?? 'default'}`);

  const local = o.target === 'local';
  const ssh = o.target === 'ssh' ? o.ssh : undefined;
  /** a kernel the harness did not boot */
  const running = runningKernel(o);
  const { kernel, image } = running ? { kernel: { image: running } as Partial<KernelBuild> & { image: string }, image: undefined } : await prepare(o);
  const repeat = o.repeat ?? 1;
  const rounds: Result[][] = [];
  /** guest.boot and guest.shutdown: about the run, not a scenario */
  const runErrors: Result[] = [];
  const results: Result[] = [];
  const report: RunReport = {
    kernel: {
      image: kernel.image,
      cacheKey: kernel.cacheKey,
      patches: o.kernel || running ? undefined : o.patches ?? 'default',
      series: o.kernel || running ? undefined : [...readSeries(o.patches ?? defaultPatches).patches, ...(o.extraPatches ?? [])],
      config: kernel.config,
    },
    startedAt: new Date().toISOString(),
    target: ssh
      ? { kind: 'ssh', address: sshName(ssh.address), console: false, note: "the board's console is not visible over ssh: a kernel crash shows only as a lost connection" }
      : local
        ? { kind: 'local', console: false }
        : { kind: 'qemu', console: true, arch: o.arch ?? DEFAULT_ARCH },
    features: {},
    results,
    summary: summarize(results),
    timings: { bootMs: 0, suiteMs: 0 },
  };
  const save = () => {
    const folded = foldRounds(rounds);
    results.splice(0, results.length, ...folded.results, ...runErrors);
    // A round still under way has not reached every scenario: not a change of verdict.
    const complete = rounds.filter((r) => r.length === scenarios.length);
    if (repeat > 1) report.repeat = { rounds: complete.length, of: repeat, changed: foldRounds(complete).changed, retried: rounds.flat().filter((r) => r.retried?.length).length };
    report.summary = summarize(results);
    writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  };

  let guest: AgentChannel | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    report.interrupted = sig;
    guest?.kill();
    save();
    process.stderr.write(`\nreclaim-harness: ${sig}: ${local ? 'agent stopped, knobs put back' : ssh ? 'connection closed; the agent puts the board back' : 'QEMU stopped'}; partial results in ${join(outDir, 'results.json')}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let accel: AccelChoice | undefined;
    if (!running) {
      accel = await chooseAccel(o.arch ?? DEFAULT_ARCH, kernel.image);
      Object.assign(report.target!, { accel: accel.accel, ...(accel.why ? { note: `TCG, not KVM: ${accel.why}` } : {}) });
    }
    if (accel) progress('run', `booting ${o.arch ?? DEFAULT_ARCH} under ${accel.accel.toUpperCase()}${accel.why ? ` (not KVM: ${accel.why})` : ''} (${o.smp} CPUs, ${o.memMiB} MiB, swap ${o.swap === 'none' ? 'none' : `${o.swap} MiB`}); console: ${join(outDir, 'console.log')}`);
    try {
      guest = await startTarget({ ...o, accel: accel?.accel, kernel: kernel.image, initrd: image?.initrd, outDir });
    } catch (e) {
      if (!(e instanceof GuestError)) throw e;
      // The reports still say so: a dashboard shows the boot as an ERROR.
      runErrors.push({ id: 'guest.boot', status: 'error', kind: kindOf(e), reason: e.message, durationMs: 0 });
      process.stderr.write(`reclaim-harness: the ${running ? 'agent' : 'guest'} did not come up: ${e.message}\n`);
    }
    if (guest) await suiteOn(guest);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    save();
  }
  return finish();

  async function suiteOn(guest: AgentChannel): Promise<void> {
    report.features = guest.features;
    report.kernel.release = (guest.features.kernel as { release: string }).release;
    report.kernel.version = (guest.features.kernel as { version: string }).version;
    report.kernel.procVersion = (guest.features.kernel as { procVersion?: string }).procVersion;
    report.timings.bootMs = guest.bootMs;
    progress('run', `agent ready after ${(guest.bootMs / 1000).toFixed(2)} s; ${scenarios.length} scenario(s)${repeat > 1 ? `, ${repeat} rounds` : ''}`);
    const t0 = Date.now();
    const expected = expectedOf(kernel, o.expect);
    if (expected.size) progress('run', `expected: ${[...expected].map(([f, why]) => `${f} (${why})`).join(', ')}`);
    for (let k = 1; k <= repeat && guest.alive; k++) {
      const round: Result[] = [];
      rounds.push(round);
      const r0 = Date.now();
      await runSuite(
        guest,
        scenarios,
        (r) => {
          round.push(r);
          // Every line in one round; later rounds name only what did not pass.
          if (o.format === 'human' && !o.quiet && (k === 1 || r.status === 'fail' || r.status === 'error')) process.stderr.write((repeat > 1 ? `[${k}/${repeat}] ` : '') + resultLine(r) + '\n');
          save();
        },
        expected,
      );
      if (repeat > 1) {
        const s = summarize(round);
        progress('run', `round ${k}/${repeat}: ${s.pass} pass, ${s.fail} fail, ${s.skip} skip, ${s.error} error in ${((Date.now() - r0) / 1000).toFixed(1)} s; ${report.repeat!.changed.length} scenario(s) changed verdict so far`);
      }
    }
    report.timings.suiteMs = Date.now() - t0;
    const end = await guest.stop();
    if (end.crash && !results.some((r) => r.status === 'error')) {
      runErrors.push({ id: 'guest.shutdown', status: 'error', kind: 'crash', reason: `kernel ${end.crash.kind} during shutdown:\n${end.crash.excerpt}`, durationMs: 0 });
    }
  }

  function finish(): number {
    const text: Record<Format, string> = {
      human: humanReport(report),
      json: JSON.stringify(report),
      ktap: ktapReport(report),
      junit: junitReport(report),
      kcidb: JSON.stringify(kcidbReport(report), null, 2),
    };
    writeFileSync(join(outDir, 'results.ktap'), text.ktap);
    writeFileSync(join(outDir, 'results.junit.xml'), text.junit);
    writeFileSync(join(outDir, 'results.kcidb.json'), text.kcidb + '\n');
    writeFileSync(join(outDir, 'results.txt'), text.human + '\n');
    if (!o.quiet) console.log(text[o.format].replace(/\n$/, ''));
    const s = report.summary;
    return s.fail || s.error ? 1 : 0;
  }
}
