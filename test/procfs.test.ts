// Parsers for the /proc text the harness observes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delta, parseKeyValues, parseSmaps, parseVmstat } from '../src/agent/procfs.js';

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
