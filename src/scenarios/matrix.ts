// The §6.1 matrix as data: every mapping row under every operation column,
// with swap and (where the row differs) without. Each cell is a trace; the
// model predicts every page after every step.
import type { Kind, Step } from '../model/state.js';
import { traceScenario } from '../suite/trace.js';
import type { Needs, Scenario } from '../suite/types.js';

interface Row {
  id: string;
  /** §6.1 row */
  row: string;
  title: string;
  needs?: Needs;
  /** the row behaves differently without swap */
  swapMatters?: boolean;
  setup: Step[];
  /** a second process that maps the same pages */
  partner?: string;
  /** run the operation twice (row 12b: the first pass only remaps) */
  twice?: boolean;
}

interface Column {
  id: string;
  title: string;
  needs: Needs;
  /** the operation on process p */
  steps(p: string): Step[];
  /** the target dies: nothing of it is left to verify */
  kills?: boolean;
}

const PAGES = 32;
const spawn = (p = 'P'): Step => ({ op: 'spawn', p });
const map = (kind: Kind, extra: Partial<Extract<Step, { op: 'map' }>> = {}): Step => ({ op: 'map', p: 'P', m: 'm', kind, pages: PAGES, ...extra });
const touch = (how: 'read' | 'write' | 'zero', p = 'P'): Step => ({ op: 'touch', p, span: { m: 'm' }, how });

export const ROWS: Row[] = [
  { id: 'anon', row: '1', title: 'private anon, written', swapMatters: true, setup: [spawn(), map('anon-private'), touch('write')] },
  { id: 'anon-unwritten', row: '1b', title: 'private anon, only read (zero page)', setup: [spawn(), map('anon-private'), touch('read')] },
  { id: 'file-clean', row: '2', title: 'private file, clean', setup: [spawn(), map('file-private'), touch('read')] },
  { id: 'file-cow', row: '3', title: 'private file, COWed', swapMatters: true, setup: [spawn(), map('file-private'), touch('write')] },
  { id: 'shared-file-clean', row: '4a', title: 'MAP_SHARED file, clean', setup: [spawn(), map('file-shared'), touch('read')] },
  { id: 'shared-file-dirty', row: '4b', title: 'MAP_SHARED file, dirty', setup: [spawn(), map('file-shared'), touch('write')] },
  { id: 'shmem', row: '5', title: 'shared anon (shmem)', swapMatters: true, setup: [spawn(), map('anon-shared'), touch('write')] },
  { id: 'memfd', row: '5', title: 'memfd', swapMatters: true, setup: [spawn(), map('memfd'), touch('write')] },
  { id: 'mlocked', row: '6', title: 'mlocked private anon', setup: [spawn(), map('anon-private', { locked: true }), touch('write')] },
  { id: 'mthp', row: '8', title: 'anon 64 kB mTHP folios', needs: { mthp: 64 }, swapMatters: true, setup: [spawn(), map('anon-private', { pages: 64 }), touch('write')] },
  { id: 'hugetlb', row: '7', title: 'MAP_HUGETLB', needs: { hugetlb: true }, setup: [spawn(), map('hugetlb', { pages: 512 }), touch('write')] },
  { id: 'thp', row: '8', title: 'anon THP, fully in range', needs: { thp: true }, swapMatters: true, setup: [spawn(), map('anon-private', { pages: 512, thp: true }), touch('write')] },
  { id: 'ksm', row: '9', title: 'KSM-merged zero-filled pages, one process', needs: { ksm: true }, swapMatters: true, setup: [spawn(), map('anon-private'), touch('zero'), { op: 'merge', p: 'P', m: 'm' }] },
  {
    id: 'ksm-two-procs', row: '9', title: 'KSM page shared with another process', needs: { ksm: true }, swapMatters: true, partner: 'Q',
    setup: [spawn(), spawn('Q'), map('anon-private'), touch('zero'), { op: 'map', p: 'Q', m: 'm', kind: 'anon-private', pages: PAGES }, touch('zero', 'Q'), { op: 'merge', p: 'P', m: 'm' }, { op: 'merge', p: 'Q', m: 'm' }],
  },
  { id: 'cow-fork', row: '10', title: 'COW-shared anon after fork', swapMatters: true, partner: 'C', setup: [spawn(), map('anon-private'), touch('write'), { op: 'fork', p: 'P', child: 'C' }] },
  {
    id: 'file-two-procs', row: '11', title: 'file page mapped by another process too', partner: 'Q',
    setup: [spawn(), spawn('Q'), map('file-private', { file: 'shared' }), touch('read'), { op: 'map', p: 'Q', m: 'm', kind: 'file-private', pages: PAGES, file: 'shared', keep: true }, touch('read', 'Q')],
  },
  { id: 'shmem-two-procs', row: '11', title: 'shmem page mapped by a forked child too', swapMatters: true, partner: 'C', setup: [spawn(), map('anon-shared'), touch('write'), { op: 'fork', p: 'P', child: 'C' }, touch('read', 'C')] },
  { id: 'lazyfree', row: '12', title: 'MADV_FREE, clean', setup: [spawn(), map('anon-private'), touch('write'), { op: 'madvise', p: 'P', span: { m: 'm' }, advice: 'free' }] },
  { id: 'lazyfree-rewritten', row: '12b', title: 'MADV_FREE, then written again', swapMatters: true, twice: true, setup: [spawn(), map('anon-private'), touch('write'), { op: 'madvise', p: 'P', span: { m: 'm' }, advice: 'free' }, touch('write')] },
];

export const COLUMNS: Column[] = [
  { id: 'reclaim-file', title: "echo file > /proc/PID/reclaim", needs: { feature: 'proc-reclaim' }, steps: (p) => [{ op: 'reclaim', target: p, mode: 'file' }] },
  { id: 'reclaim-anon', title: "echo anon > /proc/PID/reclaim", needs: { feature: 'proc-reclaim' }, steps: (p) => [{ op: 'reclaim', target: p, mode: 'anon' }] },
  { id: 'reclaim-all', title: "echo all > /proc/PID/reclaim", needs: { feature: 'proc-reclaim' }, steps: (p) => [{ op: 'reclaim', target: p, mode: 'all' }] },
  { id: 'reclaim-range', title: "echo ADDR SIZE > /proc/PID/reclaim over the mapping", needs: { feature: 'proc-reclaim' }, steps: (p) => [{ op: 'reclaim', target: p, range: { m: 'm' } }] },
  { id: 'pageout', title: 'process_madvise(MADV_PAGEOUT) over the mapping', needs: {}, steps: (p) => [{ op: 'pmadvise', target: p, advice: 'pageout', vec: [{ m: 'm' }] }] },
  { id: 'range-pageout', title: 'process_madvise(MADV_PAGEOUT, PMADV_FLAG_RANGE)', needs: { feature: 'pmadv-range' }, steps: (p) => [{ op: 'pmadvise', target: p, advice: 'pageout', vec: null, flags: 1 }] },
  {
    id: 'dontneed-dying', title: 'SIGKILL, then process_madvise(MADV_DONTNEED, PMADV_FLAG_RANGE)', needs: { feature: 'pmadv-range' }, kills: true,
    steps: (p) => [{ op: 'kill', p }, { op: 'pmadvise', target: p, advice: 'dontneed', vec: null, flags: 1 }, { op: 'reap', p }],
  },
  { id: 'mrelease', title: 'SIGKILL, then process_mrelease', needs: { feature: 'process-mrelease' }, kills: true, steps: (p) => [{ op: 'kill', p }, { op: 'mrelease', p }, { op: 'reap', p }] },
];

function cell(row: Row, col: Column, swap: boolean | undefined, both = false): Scenario {
  const ops = [...col.steps('P'), ...(row.twice && !col.kills ? col.steps('P') : []), ...(both ? col.steps(row.partner!) : [])];
  const verify: Step[] = [...(col.kills ? [] : [{ op: 'verify', p: 'P' } as Step]), ...(row.partner && !(both && col.kills) ? [{ op: 'verify', p: row.partner } as Step] : [])];
  const id = `${col.id}.${row.id}${both ? '-both' : ''}${swap === false ? '.noswap' : ''}`;
  const title = `${col.title}: ${row.title}${both ? `, then on ${row.partner} too` : ''} (§6.1 row ${row.row}${swap === false ? ', no swap' : ''})`;
  return traceScenario(id, title, { ...col.needs, ...row.needs, ...(swap !== undefined ? { swap } : {}) }, [...row.setup, ...ops, ...verify]);
}

const R_AND_PO = ['reclaim-file', 'reclaim-anon', 'reclaim-all', 'reclaim-range', 'pageout'];

export const matrix: Scenario[] = [
  ...ROWS.flatMap((row) => COLUMNS.map((col) => cell(row, col, row.swapMatters ? true : undefined))),
  // Row 10, "then C also reclaims": the last mapper's reclaim writes and frees the page.
  ...COLUMNS.filter((c) => R_AND_PO.includes(c.id)).map((col) => cell(ROWS.find((r) => r.id === 'cow-fork')!, col, true, true)),
  ...ROWS.filter((r) => r.swapMatters).flatMap((row) => COLUMNS.filter((c) => ['reclaim-anon', 'reclaim-file', 'reclaim-all', 'pageout'].includes(c.id)).map((col) => cell(row, col, false))),
];
