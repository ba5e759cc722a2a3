// The model's parsers against the outcomes observed on the patched kernel
// (issue 3 experiments; spec §6.2 and A3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memparse, parseReclaim, parseShrinkmem } from '../../src/model/parse.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const reclaim = (s: string | Buffer) => {
  const r = parseReclaim(typeof s === 'string' ? b(s) : s, 4096);
  return r.ok ? (r.action.kind === 'range' ? `range ${r.action.start} ${r.action.len}` : r.action.kind === 'keyword' ? r.action.which : 'noop') : r.errno;
};

test('memparse: base 0, K/M/G/T/P/E suffixes, stops at the first invalid character, wraps', () => {
  const v = (s: string) => memparse(b(s)).value;
  assert.equal(v('4096'), 4096n);
  assert.equal(v('0x1000'), 4096n);
  assert.equal(v('010'), 8n);
  assert.equal(v('08'), 0n);
  assert.equal(v('0x'), 0n);
  assert.equal(v('4k'), 4096n);
  assert.equal(v('1G'), 1n << 30n);
  assert.equal(v('1e'), 1n << 60n);
  assert.equal(v('16E'), 0n, 'wraps silently');
  assert.equal(v('-1'), 0n);
  assert.equal(v('4096abc'), 4096n);
  assert.equal(v('18446744073709551616'), 0n, '2^64 wraps to 0');
  assert.deepEqual(memparse(b('2Mx')), { value: 2n << 20n, end: 2 });
});

test('/proc/PID/reclaim: every input observed on the patched kernel', () => {
  const cases: Array<[string, string]> = [
    ['anon', 'anon'],
    [' all\n', 'all'],
    ['file\n', 'file'],
    ['\xa0file\xa0', 'file'], // the kernel's isspace includes NBSP
    ['ALL', 'EINVAL'],
    ['', 'EINVAL'],
    ['file anon', 'EINVAL'],
    ['4097 4096', 'EINVAL'],
    ['4096', 'EINVAL'],
    ['4096 0', 'noop'],
    ['4096  8192', 'noop'],
    ['4096\t8192', 'EINVAL'],
    ['0x1000 4k', 'range 4096 4096'],
    ['010 4096', 'EINVAL'],
    ['4096 -1', 'noop'],
    ['4096 0xffffffffffffffff', 'EINVAL'],
    ['0xfffffffffffff000 8192', 'EINVAL'],
    ['4096abc 4096', 'range 4096 4096'],
    ['0 1 2 3', 'range 0 4096'],
    ['0x7fff00000000 1G', `range ${0x7fff00000000n} ${1n << 30n}`],
    ['8192 4097', 'range 8192 8192'],
  ];
  for (const [input, want] of cases) assert.equal(reclaim(input), want, JSON.stringify(input));
  assert.equal(reclaim(Buffer.from('anon\0junk')), 'anon', 'C string ends at NUL');
});

test('/proc/PID/reclaim: writes are truncated at 199 bytes and return 199', () => {
  const long = Buffer.from('anon' + ' '.repeat(396));
  const r = parseReclaim(long, 4096);
  assert.deepEqual(r, { ok: true, ret: 199, action: { kind: 'keyword', which: 'anon' } });
  const cut = Buffer.from('4096 ' + '1'.repeat(300));
  const rc = parseReclaim(cut, 4096);
  assert.ok(rc.ok && rc.ret === 199 && rc.action.kind === 'range', JSON.stringify(rc, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
});

test('/dev/shrinkmem: kstrtoul base 0 with one trailing newline; everything else EINVAL', () => {
  const sm = (s: string) => {
    const r = parseShrinkmem(b(s));
    return r.ok ? `${r.action.mb}/${r.ret}` : r.errno;
  };
  assert.equal(sm('0'), '0/1');
  assert.equal(sm('0x2\n'), '2/4');
  assert.equal(sm('100000'), '100000/6');
  assert.equal(sm('+7'), '7/2');
  assert.equal(sm('010'), '8/3');
  for (const bad of ['abc', '1\n\n', ' 1', '-1', '99999999999999999999', '', '0x', '1 ']) assert.equal(sm(bad), 'EINVAL', JSON.stringify(bad));
});
