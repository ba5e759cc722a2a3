// One table for the numbers the TypeScript and the C share: native/uapi.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ABI, mapKinds, nativeSource } from '../../src/protocol/abi.js';
import { reproducer } from '../../src/fuzz/repro.js';

const define = (name: string) => Number(new RegExp(`#define ${name} (\\w+)`).exec(nativeSource('uapi.h'))?.[1]);

test('abi: the mapping kinds, MADV values and the range flag come from native/uapi.h, and the subject names the kinds in that order', () => {
  assert.deepEqual(mapKinds(), ['anon-private', 'anon-shared', 'file-private', 'file-shared', 'memfd', 'hugetlb']);
  const names = /kind_names\[\] = \{([^}]*)\}/.exec(nativeSource('subject.c'))![1]!.split(',').map((x) => x.trim().replace(/"/g, ''));
  assert.deepEqual(names, mapKinds());
  assert.equal(define('MADV_COLD'), ABI.MADV_COLD);
  assert.equal(define('MADV_PAGEOUT'), ABI.MADV_PAGEOUT);
  assert.equal(define('PMADV_FLAG_RANGE'), ABI.PMADV_FLAG_RANGE);
  for (const f of ['shim.cc', 'subject.c', 'repro-runtime.c']) assert.match(nativeSource(f), /#include "uapi.h"/, f);
});

test('abi: a reproducer is one standalone file: the runtime with uapi.h inlined, kinds by their uapi.h number', () => {
  const c = reproducer(
    [{ op: 'spawn', p: 'P' }, { op: 'map', p: 'P', m: 'm1', kind: 'memfd', pages: 4 }, { op: 'touch', p: 'P', span: { m: 'm1' }, how: 'write' }],
    [{ step: '3: touch P m1 write', expected: '-', observed: '-', rule: '-', explain: '-' }],
    { pageSize: 4096, title: 'abi test' },
  );
  assert.doesNotMatch(c, /#include "uapi.h"/);
  assert.match(c, /enum map_kind \{ ANON_PRIVATE/);
  assert.match(c, /OP_MAP, 1, 4, 4, 0\); \/\* memfd \*\//);
});
