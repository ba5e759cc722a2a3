// Mutant schemata: every mutant of a series compiled into one kernel, each
// behind a runtime switch (qemu/mutate/reclaim_mutant.c), as one more patch
// on top of the series.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../native.js';
import { GUARD, type FileMutants } from './generate.js';

export const RUNTIME = 'lib/reclaim_mutant.c';
export const SWITCH = '/sys/module/reclaim_mutant/parameters/mutant';
export const HITS = '/sys/module/reclaim_mutant/parameters/hits';

/** The lines (1-based) of `after` that are not in `before` (a new file: all). */
export async function addedLines(before: string | undefined, after: string): Promise<Set<number>> {
  const n = after.split('\n').length;
  if (before === undefined) return new Set(Array.from({ length: n }, (_, k) => k + 1));
  const out = new Set<number>();
  for (const m of (await diff(before, after, 0)).matchAll(/^@@ -\S+ \+(\d+)(?:,(\d+))? @@/gm)) {
    const start = Number(m[1]);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    for (let k = 0; k < count; k++) out.add(start + k);
  }
  return out;
}

/** `diff -U<context>` of two texts, hunks only. */
async function diff(before: string, after: string, context: number): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'reclaim-diff-'));
  try {
    writeFileSync(join(tmp, 'a'), before);
    writeFileSync(join(tmp, 'b'), after);
    const r = await execa('diff', [`-U${context}`, join(tmp, 'a'), join(tmp, 'b')], { reject: false });
    if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`diff failed: ${r.stderr}`);
    return r.stdout.split('\n').slice(2).join('\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What each mutated file starts with: the switch, declared without headers. */
const PRELUDE = `extern int reclaim_mutant; extern void reclaim_mutant_hit(int n); static inline __attribute__((__unused__)) int ${GUARD}(int n) { reclaim_mutant_hit(n); return *(volatile int *)&reclaim_mutant == n; } `;

/** Puts the prelude on line 1, so every other line keeps its number (a directive needs a line of its own). */
export function withPrelude(text: string): string {
  return text.startsWith('#') ? `${PRELUDE}\n${text}` : PRELUDE + text;
}

/**
 * The schemata as a git-format patch against `stage` (the series applied):
 * each mutated file, the runtime file, and lib/Makefile building it.
 */
export async function schemataPatch(stage: string, sourceDir: string, files: readonly FileMutants[], sites: number): Promise<string> {
  const parts: string[] = [];
  for (const f of files) {
    if (!f.mutants.length) continue;
    parts.push(`diff --git a/${f.file} b/${f.file}\n--- a/${f.file}\n+++ b/${f.file}\n${await diff(readFileSync(join(stage, f.file), 'utf8'), withPrelude(f.schemata), 3)}\n`);
  }
  const runtime = readFileSync(join(packageRoot, 'qemu', 'mutate', 'reclaim_mutant.c'), 'utf8').replace('@SITES@', String(sites));
  const lines = runtime.replace(/\n$/, '').split('\n');
  parts.push(`diff --git a/${RUNTIME} b/${RUNTIME}\nnew file mode 100644\n--- /dev/null\n+++ b/${RUNTIME}\n@@ -0,0 +1,${lines.length} @@\n${lines.map((l) => `+${l}`).join('\n')}\n`);
  const makefile = existsSync(join(stage, 'lib/Makefile')) ? join(stage, 'lib/Makefile') : join(sourceDir, 'lib/Makefile');
  const mk = readFileSync(makefile, 'utf8');
  parts.push(`diff --git a/lib/Makefile b/lib/Makefile\n--- a/lib/Makefile\n+++ b/lib/Makefile\n${await diff(mk, `${mk}obj-y += reclaim_mutant.o\n`, 3)}\n`);
  return `From: reclaim-harness mutate\nSubject: [PATCH] mutant schemata: ${sites} mutants behind reclaim_mutant=N\n\n---\n${parts.join('')}`;
}
