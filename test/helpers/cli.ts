// The reclaim-harness command as a child process, and scratch directories.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/native.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs dist/src/cli/index.js of root (this checkout by default), optionally as another uid. */
export function cli(args: string[], o: { root?: string; env?: NodeJS.ProcessEnv; uid?: number } = {}): Promise<CliResult> {
  const root = o.root ?? packageRoot;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(root, 'dist', 'src', 'cli', 'index.js'), ...args], { cwd: root, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], ...(o.uid === undefined ? {} : { uid: o.uid, gid: o.uid }) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** A temporary directory removed after the test. */
export function scratchDir(t: { after(fn: () => void): void }, prefix = 'reclaim-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
