// Parsers for the /proc text the harness observes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delta, parseKeyValues, parseSmaps, parseVmstat, pickKeyValues, smapsFieldsOf } from '../../src/protocol/procfs.js';

const SMAPS = `5500000000-5500020000 rw-p 00000000 00:00 0 
Size:                128 kB
Rss:                   0 kB
Swap:                128 kB
Locked:                0 kB
VmFlags: rd wr mr mw me ac 
ffff9a000000-ffff9a010000 r--p 00000000 fe:00 12          /mnt/scratch/f.dat
Size:                 64 kB
Rss:                  64 kB
Swap:                  0 kB
VmFlags: rd mr mw me 
`;

test('smaps: one entry per VMA with its fields and flags', () => {
  const v = parseSmaps(SMAPS);
  assert.equal(v.length, 2);
  assert.deepEqual([v[0]!.start, v[0]!.end, v[0]!.perms, v[0]!.path], [0x5500000000n, 0x5500020000n, 'rw-p', '']);
  assert.deepEqual([v[0]!.fields.Swap, v[0]!.fields.Rss, v[0]!.vmFlags.at(-1)], [128, 0, 'ac']);
  assert.deepEqual([v[1]!.path, v[1]!.fields.Rss, v[1]!.fields.Swap], ['/mnt/scratch/f.dat', 64, 0]);
});

test('meminfo/status key values, vmstat, and deltas', () => {
  const a = parseKeyValues('MemFree:  1000 kB\nSwapCached:   0 kB\nHugePages_Total:       0\nName:\tsubject\n');
  assert.deepEqual(a, { MemFree: 1000, SwapCached: 0, HugePages_Total: 0 });
  const b = parseKeyValues('MemFree:  1300 kB\nSwapCached:  64 kB\nHugePages_Total:       0\n');
  assert.deepEqual(delta(a, b), { MemFree: 300, SwapCached: 64, HugePages_Total: 0 });
  assert.deepEqual(parseVmstat('pswpout 10\nthp_swpout 1\n'), { pswpout: 10, thp_swpout: 1 });
});

test('smapsFieldsOf: the fields of exactly matching VMAs, as parseSmaps reads them; null for no match', () => {
  const vmas = parseSmaps(SMAPS);
  const ranges = [...vmas.map((v) => [v.start, v.end] as const), [vmas[0]!.start, vmas[0]!.end + 1n] as const];
  assert.deepEqual(smapsFieldsOf(SMAPS, ranges), [...vmas.map((v) => v.fields), null]);
  assert.deepEqual(smapsFieldsOf('', [[1n, 2n]]), [null]);
});

test('pickKeyValues: only the keys asked for, as parseKeyValues reads them', () => {
  const status = 'Name:\tsubject\nVmSize:\t    2048 kB\nVmRSS:\t 12 kB\nRssAnon:\t 8 kB\nRssFile:\t 4 kB\nRssShmem:\t 0 kB\nVmSwapX:\t 1 kB\nVmSwap:\t 16 kB\n';
  const keys = ['VmSize', 'RssAnon', 'RssFile', 'RssShmem', 'VmSwap'];
  const all = parseKeyValues(status);
  assert.deepEqual(pickKeyValues(status, keys), Object.fromEntries(keys.map((k) => [k, all[k]])));
});
