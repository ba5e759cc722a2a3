// Boot smoke test: the kernel, and qemu/smoke/probe.c as /init. Independent of
// the guest agent, so a kernel can be checked before any Node.js image exists.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../native.js';
import { cacheDir, hashOf } from '../builds/cache.js';
import { cpioGz } from '../builds/guest/cpio.js';
import { boot, type BootResult } from './qemu.js';

export interface ProbeCheck {
  n: number;
  name: string;
  ok: boolean;
  skip: boolean;
  reason: string;
}

export interface SmokeResult {
  boot: BootResult;
  checks: ProbeCheck[];
  done: boolean;
  consoleLog: string;
}

const PROBE_SRC = join(packageRoot, 'qemu', 'smoke', 'probe.c');

/** "ok 3 - name # SKIP why" / "not ok 4 - name # why" lines, in order. */
export function parseProbeOutput(text: string): ProbeCheck[] {
  const out: ProbeCheck[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^(not )?ok (\d+) - (.*?)(?: # (SKIP ?)?(.*))?$/.exec(line.trim());
    if (m) out.push({ n: Number(m[2]), name: m[3]!, ok: !m[1], skip: !!m[4], reason: (m[5] ?? '').trim() });
  }
  return out;
}

/** Cross-compiles the probe (static) and wraps it as /init; both cached by content. */
export async function smokeInitramfs(): Promise<string> {
  const src = readFileSync(PROBE_SRC);
  const cc = 'aarch64-linux-gnu-gcc';
  const version = (await execa(cc, ['--version'])).stdout;
  const dir = cacheDir('smoke', hashOf([src, version]).slice(0, 24));
  const initrd = join(dir, 'initramfs.cpio.gz');
  if (existsSync(initrd)) return initrd;
  const probe = join(dir, 'probe');
  await execa(cc, ['-static', '-O2', '-Wall', '-o', probe, PROBE_SRC]);
  writeFileSync(
    initrd,
    cpioGz([
      { path: 'dev', type: 'dir' },
      { path: 'dev/console', type: 'char', major: 5, minor: 1 },
      { path: 'proc', type: 'dir' },
      { path: 'sys', type: 'dir' },
      { path: 'init', type: 'file', data: readFileSync(probe), mode: 0o755 },
    ]),
  );
  return initrd;
}

export async function bootSmoke(image: string, outDir: string, timeoutMs = 120_000): Promise<SmokeResult> {
  mkdirSync(outDir, { recursive: true });
  const consoleLog = join(outDir, 'console.log');
  const result = await boot({ kernel: image, initrd: await smokeInitramfs(), consoleLog, timeoutMs, memMiB: 1024, smp: 2 });
  return { boot: result, checks: parseProbeOutput(result.console), done: /^# probe done/m.test(result.console), consoleLog };
}
