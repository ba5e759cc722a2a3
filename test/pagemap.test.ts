// pagemap entry decoding (Documentation/admin-guide/mm/pagemap.rst).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePagemap } from '../src/agent/pagemap.js';

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
