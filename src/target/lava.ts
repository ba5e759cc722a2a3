// `reclaim-harness lava`: a LAVA job that boots a kernel with a ramdisk carrying the target
// bundle and runs the on-target runner in a test action; each scenario is a LAVA test case,
// signalled through /dev/kmsg. For --device-type qemu it also writes the rendered device
// dictionary, and --run runs the job here with lava-dispatcher's lava-run (no server).
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { buildKernel } from '../builds/kernel.js';
import { makeScratchDisk } from './guest.js';
import { bundleRamdisk } from '../builds/guest/ramdisk.js';
import { progress } from '../log.js';
import { lavaName } from '../report/lava.js';
import { suite } from '../scenarios/index.js';
import { selectScenarios } from '../suite/runner.js';
import type { Depth } from '../suite/types.js';
import type { Patched } from '../protocol/kconfig.js';
import { expectedOf } from '../builds/kernel.js';

export interface LavaOptions {
  output: string;
  /** qemu: this machine's QEMU, with a device dictionary written here; else a lab's device type */
  deviceType: string;
  kernelUrl?: string;
  modulesUrl?: string;
  ramdiskUrl?: string;
  /** a kernel Image, instead of building one (qemu) */
  kernel?: string;
  kernelSrc?: string;
  patches?: string;
  filter?: string;
  depth?: Depth;
  swap: number | 'none';
  memMiB: number;
  smp: number;
  /** the board's scratch directory, for another device type (/mnt/scratch: the qemu device's disk) */
  scratch: string;
  run: boolean;
  /** interfaces the kernel must have (--expect); a kernel built here adds its config's */
  expect?: Patched[];
}

/** YAML for plain data: mappings, sequences, strings (JSON-quoted, which YAML reads the same), numbers, booleans, null. */
export function yaml(v: unknown, indent = ''): string {
  const empty = (x: unknown) => x !== null && typeof x === 'object' && !(Array.isArray(x) ? x.length : Object.keys(x).length);
  if (empty(v)) return Array.isArray(v) ? '[]' : '{}';
  if (Array.isArray(v)) return v.map((x) => `${indent}- ${yaml(x, indent + '  ').trimStart()}`).join('\n');
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => (x !== null && typeof x === 'object' && !empty(x) ? `${indent}${k}:\n${yaml(x, indent + '  ')}` : `${indent}${k}: ${yaml(x)}`))
      .join('\n');
  }
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const PROMPT = 'reclaim-target# ';

/** The rendered qemu device dictionary: what lava-server would render from qemu.jinja2, for this machine. */
function qemuDevice(o: LavaOptions, scratchImg: string): Record<string, unknown> {
  return {
    available_architectures: ['arm64'],
    actions: {
      deploy: { methods: { image: { parameters: { guest: { size: 512 } } } } },
      boot: {
        methods: {
          qemu: {
            parameters: {
              command: 'qemu-system-aarch64',
              options: ['-cpu cortex-a57', '-machine virt', '-nographic', '-nic none', '-no-reboot', `-m ${o.memMiB}`, `-smp ${o.smp}`, '-monitor none', `-drive file=${scratchImg},if=none,format=raw,id=scratch`, '-device virtio-blk-device,drive=scratch'],
            },
          },
        },
      },
    },
    timeouts: { actions: {}, connections: {} },
    constants: {
      posix: { lava_test_sh_cmd: '/bin/sh', lava_test_results_dir: '/lava-%s', lava_test_shell_file: '~/.bashrc' },
      'kernel-start-message': 'Linux version [0-9]',
      'default-shell-prompt': 'lava-test: # ',
      spawn_maxread: '4092',
      failure_retry: 1,
      boot_retry: null,
    },
  };
}

/** The runner's command line in the test action. */
function runnerCommand(o: LavaOptions): string {
  const args = ['--lava', '--swap', String(o.swap), '--scratch', o.scratch, ...(o.expect?.length ? ['--expect', o.expect.join(',')] : []), ...(o.depth && o.depth !== 'default' ? ['--depth', o.depth] : []), ...(o.filter ? ['--filter', `'${o.filter.replace(/'/g, `'\\''`)}'`] : [])];
  // set -e ends the definition at a failing step: the runner's status is printed, not raised
  return `/opt/reclaim/node /opt/reclaim/runner.cjs ${args.join(' ')} || echo "reclaim-runner exit status $?"`;
}

export function lavaJob(o: LavaOptions, urls: { kernel: string; ramdisk: string; modules?: string }): Record<string, unknown> {
  const qemu = o.deviceType === 'qemu';
  const scenarios = selectScenarios(suite, o.filter, o.depth);
  const test = {
    test: {
      timeout: { minutes: 30 },
      definitions: [
        {
          from: 'inline',
          name: 'reclaim-harness',
          path: 'inline/reclaim-harness.yaml',
          'lava-signal': 'kmsg',
          repository: {
            metadata: { format: 'Lava-Test Test Definition 1.0', name: 'reclaim-harness', description: `reclaim-harness: ${scenarios.length} scenarios of the userspace-driven reclaim interfaces, one test case each` },
            run: { steps: [runnerCommand(o)] },
          },
        },
      ],
    },
  };
  // printk.devkmsg=on: /dev/kmsg writes are not rate-limited (10 per 5 s otherwise)
  const append = `console=ttyAMA0 printk.devkmsg=on panic=-1`;
  const deploy = qemu
    ? {
        to: 'tmpfs',
        timeout: { minutes: 5 },
        images: {
          kernel: { url: urls.kernel, image_arg: `-kernel {kernel} -append "${append}"` },
          ramdisk: { url: urls.ramdisk, compression: 'gz', format: 'cpio.newc', overlays: { lava: true }, image_arg: '-initrd {ramdisk}' },
        },
      }
    : {
        to: 'tftp',
        timeout: { minutes: 10 },
        kernel: { url: urls.kernel, type: 'image' },
        ramdisk: { url: urls.ramdisk, compression: 'gz', format: 'cpio.newc', overlays: { lava: true } },
        ...(urls.modules ? { modules: { url: urls.modules, compression: urls.modules.endsWith('.xz') ? 'xz' : 'gz' } } : {}),
      };
  const boot = qemu ? { method: 'qemu', media: 'tmpfs', timeout: { minutes: 5 }, prompts: [PROMPT] } : { method: 'u-boot', commands: 'ramdisk', timeout: { minutes: 10 }, prompts: [PROMPT] };
  return {
    device_type: o.deviceType,
    job_name: `reclaim-harness ${scenarios.length} scenarios`,
    priority: 'medium',
    visibility: 'public',
    context: { arch: 'arm64' },
    timeouts: { job: { minutes: 60 }, action: { minutes: 30 }, connection: { minutes: 5 } },
    actions: [{ deploy }, { boot }, test],
  };
}

export interface LavaCase {
  name: string;
  result: string;
}

/** The test cases of the reclaim-harness definition in lava-run's log (one YAML flow mapping per line). */
export function lavaCases(log: string): { cases: LavaCase[]; job?: string; console: string[] } {
  const cases: LavaCase[] = [];
  const consoleLines: string[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    // JSON but for YAML tags such as `! "334"`
    let rec: { lvl?: string; msg?: unknown };
    try {
      rec = JSON.parse(line.replace(/: ! "/g, ': "'));
    } catch {
      continue;
    }
    if (rec.lvl === 'target' && typeof rec.msg === 'string') consoleLines.push(rec.msg);
    const m = rec.msg as { definition?: string; case?: string; result?: string };
    if (rec.lvl === 'results' && m && typeof m === 'object' && m.definition && m.definition !== 'lava' && /reclaim-harness$/.test(m.definition)) cases.push({ name: String(m.case), result: String(m.result) });
  }
  return { cases, console: consoleLines };
}

/** The leaf test cases of a KTAP document (subtest lines), as LAVA names and results. */
export function ktapCases(lines: readonly string[]): LavaCase[] {
  const out: LavaCase[] = [];
  for (const l of lines) {
    const m = /^\s+(not ok|ok) \d+ (\S+)(.*)$/.exec(l);
    if (!m) continue;
    out.push({ name: lavaName(m[2]!), result: m[1] === 'not ok' ? 'fail' : /# SKIP/.test(m[3]!) ? 'skip' : 'pass' });
  }
  return out;
}

export async function lava(o: LavaOptions): Promise<number> {
  const out = resolve(o.output);
  mkdirSync(out, { recursive: true });
  const qemu = o.deviceType === 'qemu';
  let kernelUrl = o.kernelUrl;
  if (!kernelUrl) {
    const k = o.kernel ? { image: resolve(o.kernel) } : await buildKernel({ kernelSrc: o.kernelSrc, patches: o.patches });
    copyFileSync(k.image, join(out, 'Image'));
    // What the kernel was built with reaches the on-target runner: a missing interface is a FAIL there too.
    o = { ...o, expect: [...expectedOf(k, o.expect).keys()] as Patched[] };
    kernelUrl = `file://${join(out, 'Image')}`;
  }
  let ramdiskUrl = o.ramdiskUrl;
  if (!ramdiskUrl) {
    const rd = await bundleRamdisk();
    copyFileSync(rd.path, join(out, 'ramdisk.cpio.gz'));
    ramdiskUrl = `file://${join(out, 'ramdisk.cpio.gz')}`;
    progress('lava', `ramdisk with the target bundle: ${(rd.bytes / 1048576).toFixed(1)} MiB`);
  }
  const job = lavaJob(o, { kernel: kernelUrl, ramdisk: ramdiskUrl, modules: o.modulesUrl });
  writeFileSync(join(out, 'job.yaml'), `# reclaim-harness LAVA job (${o.deviceType})\n${yaml(job)}\n`);
  if (qemu) {
    const scratch = join(out, 'scratch.img');
    await makeScratchDisk(scratch, 128);
    writeFileSync(join(out, 'device.yaml'), `# the qemu device dictionary, rendered for this machine\n${yaml(qemuDevice(o, scratch))}\n`);
  }
  progress('lava', `job: ${join(out, 'job.yaml')}${qemu ? `; device: ${join(out, 'device.yaml')}` : ''}`);
  if (!o.run) return 0;
  return runJob(out, selectScenarios(suite, o.filter, o.depth).map((s) => lavaName(s.id)));
}

/** lava-run on the job; the verdict from its test cases (a job can pass with failing cases). */
async function runJob(out: string, expected: string[]): Promise<number> {
  const work = join(out, 'lava-run');
  rmSync(work, { recursive: true, force: true });
  progress('lava', `lava-run (standalone); log: ${join(out, 'lava.log')}`);
  const t0 = Date.now();
  const r = await execa('lava-run', ['--job-id', String(process.pid), '--output-dir', work, '--device', join(out, 'device.yaml'), join(out, 'job.yaml')], { all: true, reject: false });
  writeFileSync(join(out, 'lava.log'), r.all ?? '');
  const seconds = (Date.now() - t0) / 1000;
  const { cases, console: lines } = lavaCases(r.all ?? '');
  const job = existsSync(join(work, 'result.yaml')) ? /result: (\w+)/.exec(readFileSync(join(work, 'result.yaml'), 'utf8'))?.[1] : undefined;
  const ktap = ktapCases(lines);
  const got = new Map(cases.map((c) => [c.name, c.result]));
  const missing = expected.filter((n) => !got.has(n));
  const count = (res: string) => cases.filter((c) => c.result === res).length;
  // KTAP says ok, ok # SKIP or not ok; LAVA pass, skip, fail or unknown (a harness ERROR)
  const verdict = (c: LavaCase) => (c.result === 'unknown' ? 'fail' : c.result);
  const byName = (l: LavaCase[]) => JSON.stringify(l.map((c) => `${c.name} ${verdict(c)}`).sort());
  const agree = byName(cases) === byName(ktap);
  const summary = { seconds, jobResult: job ?? 'none', lavaRunStatus: r.exitCode, cases: cases.length, expected: expected.length, pass: count('pass'), fail: count('fail'), skip: count('skip'), unknown: count('unknown'), missing, ktapCases: ktap.length, ktapAgrees: agree };
  writeFileSync(join(out, 'lava-results.json'), JSON.stringify({ ...summary, testCases: cases }, null, 2) + '\n');
  for (const c of cases) if (c.result === 'fail' || c.result === 'unknown') process.stderr.write(`${c.result.toUpperCase().padEnd(7)} ${c.name}\n`);
  console.log(`lava-run: job ${summary.jobResult} (exit ${r.exitCode}) in ${seconds.toFixed(1)} s; ${cases.length} of ${expected.length} test cases: ${summary.pass} pass, ${summary.fail} fail, ${summary.skip} skip, ${summary.unknown} unknown${missing.length ? `; ${missing.length} missing (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})` : ''}; KTAP ${agree ? 'agrees' : 'DISAGREES'} (${ktap.length} cases)`);
  if (r.exitCode !== 0 || job !== 'pass') {
    const why = existsSync(join(work, 'result.yaml')) ? /error_msg: (.*)/.exec(readFileSync(join(work, 'result.yaml'), 'utf8'))?.[1] : undefined;
    process.stderr.write(`reclaim-harness: lava-run did not complete the job: ${why ?? `exit ${r.exitCode}: ${(r.all ?? '').trim().split('\n').slice(-2).join(' / ')}`}; see ${join(out, 'lava.log')}\n`);
  }
  return summary.fail || summary.unknown || missing.length || !agree || job !== 'pass' ? 1 : 0;
}
