// pagemap entry decoding (Documentation/admin-guide/mm/pagemap.rst).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePagemap } from '../../src/protocol/pagemap.js';
import { entriesOf, pfnsOf, readEntries, readEntriesAt, readRaw } from '../../src/agent/pagemap.js';

test('present entry: PFN in bits 0-54, flags in 55-63', () => {
  const e = decodePagemap((1n << 63n) | (1n << 61n) | (1n << 56n) | 0x48115n);
  assert.deepEqual([e.present, e.swapped, e.fileShared, e.exclusive, e.softDirty, e.pfn], [true, false, true, true, false, 0x48115n]);
  assert.equal(e.swapOffset, undefined);
});

test('swapped entry: type in bits 0-4, offset in 5-54 (spec C.1 #12)', () => {
  const e = decodePagemap(0x4000000000081680n);
  assert.deepEqual([e.present, e.swapped, e.swapType, e.swapOffset, e.pfn], [false, true, 0, 0x40b4n, undefined]);
});

test('empty entry and soft-dirty / uffd-wp bits', () => {
  assert.deepEqual(decodePagemap(0n), { raw: 0n, present: false, swapped: false, fileShared: false, exclusive: false, softDirty: false, uffdWp: false });
  const e = decodePagemap((1n << 55n) | (1n << 57n));
  assert.deepEqual([e.softDirty, e.uffdWp, e.present], [true, true, false]);
});

test('readEntriesAt: runs, gaps, repeats, any order and past the end read what one pread per index would', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reclaim-entries-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const n = 300;
  const buf = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) buf.writeBigUInt64LE((BigInt(i) << 40n) | 0x8000000000000000n | BigInt(i * 7), i * 8);
  const file = join(dir, 'array');
  writeFileSync(file, buf);
  const want = (i: bigint) => (i < BigInt(n) ? buf.readBigUInt64LE(Number(i) * 8) : 0n);
  const indices = [5n, 6n, 7n, 40n, 41n, 299n, 6n, 0n, 120n, 137n, 138n, 300n, 5000n, 23n].map((x) => x);
  assert.deepEqual(readEntriesAt(file, indices), indices.map(want));
  assert.deepEqual(readEntriesAt(file, []), []);
  for (let k = 0; k < 20; k++) {
    const random = Array.from({ length: 1 + (k * 13) % 50 }, (_v, j) => BigInt(((j + 1) * 2654435761 * (k + 1)) % 340));
    assert.deepEqual(readEntriesAt(file, random), random.map(want));
  }
});

test('pfnsOf reads the PFN of present raw entries as numbers, 0 for the others, as decodePagemap does', () => {
  const entries = [(1n << 63n) | (1n << 56n) | ((1n << 55n) - 1n), (1n << 63n) | 0x48115n, 0x4000000000081680n, 0n, (1n << 63n) | (1n << 55n) | 7n, (1n << 63n)];
  const raw = Buffer.alloc(entries.length * 8);
  entries.forEach((e, i) => raw.writeBigUInt64LE(e, i * 8));
  assert.deepEqual(pfnsOf(raw), entries.map((e) => Number(decodePagemap(e).pfn ?? 0n)));
  assert.deepEqual(entriesOf(raw), entries);
});

test('readRaw of this process\'s pagemap holds the entries readEntries decodes, short at the end of the address space', () => {
  const entries = readEntries('/proc/self/pagemap', 0n, 64);
  assert.deepEqual(entriesOf(readRaw('/proc/self/pagemap', 0, 64)), entries);
  assert.equal(entries.length, 64);
  // pagemap ends at TASK_SIZE: a read from just below it is short
  const top = 2 ** (process.arch === 'x64' ? 47 : 48) / 4096 - 2;
  const short = readRaw('/proc/self/pagemap', top, 8).length;
  assert.ok(short >= 8 && short <= 16 && short % 8 === 0, `${short} bytes`);
});
