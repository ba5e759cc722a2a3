// KCIDB I/O schema v5.3, the format KernelCI aggregates: one checkout (the base and the series),
// one build (the kernel), one test per scenario; and a check of the document against v5.3's rules.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { groupOf, type Result } from '../suite/types.js';
import type { RunReport } from './json.js';

export const KCIDB_ORIGIN = 'reclaim_harness';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** KCIDB's patchset hash: sha256 over the newline-terminated sha256 of each patch, in order. */
export function patchsetHash(patches: readonly string[]): string {
  return patches.length ? sha256(patches.map((p) => `${sha256(readFileSync(p))}\n`).join('')) : '';
}

/** pass/fail/skip map over; a scenario the lost guest never ran is MISS, any other error ERROR. */
function status(r: Result): 'PASS' | 'FAIL' | 'SKIP' | 'ERROR' | 'MISS' {
  if (r.status === 'error') return /^guest lost earlier/.test(r.reason ?? '') || r.id === 'guest.boot' ? 'MISS' : 'ERROR';
  return ({ pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const)[r.status];
}

/** KCIDB architecture names: the kernel's ARCH (arm64, x86_64), not Node's (x64). */
const kcidbArch = (a: string | undefined) => (a === 'x64' ? 'x86_64' : a ?? '');

export function kcidbReport(rep: RunReport): Record<string, unknown> {
  const series = rep.kernel.series ?? [];
  const hash = rep.kernel.series ? patchsetHash(series) : undefined;
  const started = rep.startedAt ?? new Date(0).toISOString();
  const run = sha256(`${started} ${rep.kernel.image} ${process.pid}`).slice(0, 16);
  const checkout = `${KCIDB_ORIGIN}:${hash || rep.kernel.cacheKey || sha256(rep.kernel.image ?? '').slice(0, 32)}`;
  const build = `${KCIDB_ORIGIN}:${rep.kernel.cacheKey ?? sha256(rep.kernel.image ?? '').slice(0, 32)}`;
  const arch = kcidbArch((rep.features.kernel as { arch?: string } | undefined)?.arch);
  // /proc/version: "Linux version R (user@host) (COMPILER, LINKER) #N ..."
  const compiler = /^Linux version \S+ \([^)]*\) \((.*)\) #/.exec(rep.kernel.procVersion ?? '')?.[1];
  return {
    version: { major: 5, minor: 3 },
    checkouts: [
      {
        id: checkout,
        origin: KCIDB_ORIGIN,
        ...(hash === undefined ? {} : { patchset_hash: hash, patchset_files: series.map((p) => ({ name: basename(p), url: pathToFileURL(p).href })) }),
        ...(rep.kernel.release ? { comment: `Linux ${rep.kernel.release}` } : {}),
        start_time: started,
        valid: true,
      },
    ],
    builds: [
      {
        id: build,
        checkout_id: checkout,
        origin: KCIDB_ORIGIN,
        ...(arch ? { architecture: arch } : {}),
        ...(compiler ? { compiler } : {}),
        ...(rep.kernel.config ? { config_name: basename(rep.kernel.config), config_url: pathToFileURL(rep.kernel.config).href } : {}),
        start_time: started,
        status: 'PASS',
        misc: { image: rep.kernel.image },
      },
    ],
    tests: rep.results.map((r) => ({
      id: `${KCIDB_ORIGIN}:${run}:${r.id}`,
      build_id: build,
      origin: KCIDB_ORIGIN,
      path: `${KCIDB_ORIGIN}.${r.id.replace(/[^a-zA-Z0-9_.-]/g, '_')}`,
      status: status(r),
      ...(r.reason ? { comment: r.reason.replace(/\0/g, '') } : {}),
      start_time: started,
      duration: r.durationMs / 1000,
      misc: { group: groupOf(r.id), ...(r.depth ? { depth: r.depth } : {}), ...(r.retried?.length ? { retried: r.retried } : {}) },
    })),
  };
}

/** The v5.3 rules a document must meet: each broken one, as `where: what`. */
export function kcidbProblems(doc: unknown): string[] {
  const out: string[] = [];
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(doc)) return ['document: not an object'];
  const id = /^[a-z0-9_]+:[^\0]*$/;
  const text = /^[^\0]*$/;
  const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  const STATUS = ['FAIL', 'ERROR', 'MISS', 'PASS', 'DONE', 'SKIP'];
  type Rule = RegExp | 'status' | 'number' | 'object' | 'boolean' | 'resources' | 'date-time' | 'uri';
  const check = (where: string, o: unknown, required: string[], fields: Record<string, Rule>) => {
    if (!isObj(o)) return out.push(`${where}: not an object`);
    for (const k of required) if (o[k] === undefined) out.push(`${where}: ${k} is required`);
    for (const [k, v] of Object.entries(o)) {
      const rule = fields[k];
      if (rule === undefined) {
        if (!k.startsWith('_')) out.push(`${where}: ${k} is not a v5.3 field`);
        continue;
      }
      if (v === null) out.push(`${where}.${k}: null is not allowed`);
      else if (rule instanceof RegExp) (typeof v !== 'string' || !rule.test(v)) && out.push(`${where}.${k}: ${JSON.stringify(v)} does not match ${rule}`);
      else if (rule === 'status') !STATUS.includes(v as string) && out.push(`${where}.${k}: ${JSON.stringify(v)} is not one of ${STATUS.join(' ')}`);
      else if (rule === 'number') (typeof v !== 'number' || !Number.isFinite(v) || v < 0) && out.push(`${where}.${k}: want a number of seconds`);
      else if (rule === 'object') !isObj(v) && out.push(`${where}.${k}: want an object`);
      else if (rule === 'boolean') typeof v !== 'boolean' && out.push(`${where}.${k}: want true or false`);
      else if (rule === 'date-time') (typeof v !== 'string' || !dateTime.test(v)) && out.push(`${where}.${k}: ${JSON.stringify(v)} is not an RFC 3339 date-time`);
      else if (rule === 'uri') (typeof v !== 'string' || !/^[a-z][a-z0-9+.-]*:/.test(v)) && out.push(`${where}.${k}: ${JSON.stringify(v)} is not a URI`);
      else if (rule === 'resources') {
        if (!Array.isArray(v)) out.push(`${where}.${k}: want a list of {name, url}`);
        else v.forEach((f, i) => check(`${where}.${k}[${i}]`, f, ['name', 'url'], { name: /^[^/\0]+$/, url: 'uri' }));
      }
    }
  };
  const version = doc.version;
  if (!isObj(version) || version.major !== 5 || !(Number.isInteger(version.minor) && (version.minor as number) >= 0 && (version.minor as number) <= 3)) out.push('version: want {"major": 5, "minor": 0-3}');
  for (const k of Object.keys(doc)) if (!['version', 'checkouts', 'builds', 'tests', 'issues', 'incidents'].includes(k)) out.push(`document: ${k} is not a v5.3 section`);
  const list = (k: string) => (Array.isArray(doc[k]) ? (doc[k] as unknown[]) : doc[k] === undefined ? [] : (out.push(`${k}: want a list`), []));
  const common = { id, origin: /^[a-z0-9_]+$/, comment: text, log_excerpt: text, log_url: 'uri' as Rule, start_time: 'date-time' as Rule, misc: 'object' as Rule };
  list('checkouts').forEach((c, i) =>
    check(`checkouts[${i}]`, c, ['id', 'origin'], {
      ...common, tree_name: text, git_repository_url: /^https:\/\/[^\0]*$/, git_commit_hash: /^[0-9a-f]{40}$/, git_commit_name: text, git_commit_message: text,
      git_repository_branch: text, patchset_files: 'resources', patchset_hash: /^$|^[0-9a-f]{64}$/, valid: 'boolean',
    }),
  );
  list('builds').forEach((b, i) =>
    check(`builds[${i}]`, b, ['checkout_id', 'id', 'origin'], {
      ...common, checkout_id: id, duration: 'number', architecture: /^[a-z0-9_]*$/, command: text, compiler: text, input_files: 'resources', output_files: 'resources',
      config_name: text, config_url: 'uri', status: 'status',
    }),
  );
  list('tests').forEach((t, i) =>
    check(`tests[${i}]`, t, ['build_id', 'id', 'origin'], {
      ...common, build_id: id, path: /^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$/, status: 'status', duration: 'number', environment: 'object', number: 'object', input_files: 'resources', output_files: 'resources',
    }),
  );
  return out;
}
