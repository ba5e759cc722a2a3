// The human report: a summary table, each failure's reason, and the timings.
import type { Result } from '../suite/types.js';
import type { RunReport } from './json.js';

const MARK: Record<Result['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR' };

export function resultLine(r: Result): string {
  const first = r.reason?.split('\n')[0];
  return `${MARK[r.status].padEnd(5)} ${r.id.padEnd(40)} ${String(r.durationMs).padStart(6)} ms${first ? `  ${first}` : ''}`;
}

export function humanReport(rep: RunReport): string {
  const out: string[] = [];
  out.push(`kernel ${rep.kernel.release} (${rep.kernel.image ?? 'image ?'}), features: ${Object.entries(rep.features.interfaces ?? {}).map(([k, v]) => `${k}=${v ? 'yes' : 'no'}`).join(' ')}, swap ${rep.features.swap?.totalKb ?? 0} kB`);
  for (const r of rep.results) out.push(resultLine(r));
  const details = rep.results.filter((r) => (r.status === 'fail' || r.status === 'error') && r.reason?.includes('\n'));
  for (const r of details) out.push('', `${MARK[r.status]} ${r.id}:`, r.reason!);
  const s = rep.summary;
  out.push('', `${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.error} errors`);
  out.push(`boot-to-agent-ready ${(rep.timings.bootMs / 1000).toFixed(2)} s, suite ${(rep.timings.suiteMs / 1000).toFixed(2)} s`);
  return out.join('\n');
}
