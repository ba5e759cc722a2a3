// Rules that depend on the kernel's version: each names the upstream change it follows, and
// stays as tight as the kernels on either side of it really are (spec §5.7, "Kernel versions").
import type { Kernel } from './state.js';

/** [major, minor, sublevel] of a release string such as 6.1.0-57-cloud-arm64 or 6.12.117. */
export function versionOf(release: string | undefined): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** a >= b, version-wise */
const atLeast = (a: readonly number[], b: readonly number[]) => {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/**
 * Which check refuses process_madvise() first for another uid's process with an advice the
 * kernel does not take remotely: before 6.13 the advice (process_madvise_behavior_valid(), EINVAL),
 * from 6.13 mm_access() (EACCES), since "mm/madvise: unrestrict process_madvise() for current
 * process" moved the advice check after it (process_madvise_remote_valid()).
 */
export function adviceCheckedFirst(release: string | undefined): boolean {
  const v = versionOf(release);
  return !v || !atLeast(v, [6, 13, 0]);
}

export type RssField = 'RssAnon' | 'RssFile' | 'RssShmem' | 'VmSwap';

/** How far /proc/PID/status may read below (`under`) or above (`over`) the true count, in pages. */
export interface RssSlack {
  under: number;
  over: number;
  /** the rule, for the finding */
  why: string;
}

/** Faults whose counter updates a thread may hold back: sync when events++ > TASK_RSS_EVENTS_THRESH (64). */
const SPLIT_RSS_EVENTS = 65;

/**
 * The lag of the status counters (§5.7):
 * - before 6.2 (SPLIT_RSS_COUNTING, include/linux/mm_types_task.h:39 of 6.1.192): each thread
 *   caches its fault-time updates (add_mm_counter_fast, mm/memory.c:185) and folds them into the
 *   mm when events++ > 64 (check_sync_rss_stat, :199, called per fault at :5274), so up to 65
 *   faults' worth; status reads the mm's part alone, clamped at 0 (include/linux/mm.h:2175).
 *   A fault adds one anon page (:3196, :3199, :4042, :4228, :4418) or one file or shmem page per
 *   PTE it maps (:4422), and fault-around maps up to fault_around_bytes (:4513, 64 kB) through it
 *   (mm/filemap.c:3513); it takes away one file page (a COW, :3194) or swap entry (:4043).
 *   Gone with f1a7941243c1 ("mm: convert mm's rss stats into percpu_counter", 6.2).
 * - from 6.2 until 82241a83cd15 ("mm: fix the inaccurate memory statistics issue for users",
 *   6.16, backported to 6.6.y and 6.12.y in July 2025: taken as from 6.6.99 and 6.12.39), status
 *   reads percpu_counter_read_positive(): every CPU may hold back fewer than
 *   percpu_counter_batch = max(32, 2 * CPUs) pages either way (lib/percpu_counter.c).
 * - otherwise status sums the per-CPU parts (get_mm_counter_sum(), fs/proc/task_mmu.c:39 of
 *   6.12.117) and is exact.
 */
export function rssSlack(k: Kernel, field: RssField, threads: number): RssSlack {
  const v = versionOf(k.release);
  if (!v) return { under: 0, over: 0, why: '' };
  if (!atLeast(v, [6, 2, 0])) {
    const aroundPages = (k.faultAroundBytes ?? 65536) / k.pageSize;
    const perFault = { RssAnon: [1, 0], RssFile: [aroundPages, 1], RssShmem: [aroundPages, 1], VmSwap: [0, 1] }[field];
    return {
      under: SPLIT_RSS_EVENTS * threads * perFault[0]!,
      over: SPLIT_RSS_EVENTS * threads * perFault[1]!,
      why: `before 6.2 each of the ${threads} thread(s) holds back the updates of up to ${SPLIT_RSS_EVENTS} faults (SPLIT_RSS_COUNTING; f1a7941243c1)`,
    };
  }
  const summed = atLeast(v, [6, 16, 0]) || (v[0] === 6 && v[1] === 12 && v[2] >= 39) || (v[0] === 6 && v[1] === 6 && v[2] >= 99);
  if (summed) return { under: 0, over: 0, why: '' };
  const cpus = k.cpus ?? 1;
  const batch = Math.max(32, 2 * cpus);
  const held = cpus * (batch - 1);
  return { under: held, over: held, why: `6.2 to 6.15 read the percpu counter without its ${cpus} CPU(s)' parts, fewer than ${batch} pages each (f1a7941243c1 until 82241a83cd15)` };
}
