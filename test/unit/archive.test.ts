// A user's archive is data: hostile members are refused by name, and what is unpacked keeps no
// owner, no mode and no device node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/cli.js';
import { memberOf, memberProblem, unpackTar } from '../../src/builds/archive.js';

type Entry = { name: string; type?: '0' | '1' | '2' | '3' | '4' | '5' | '6'; data?: string; link?: string; mode?: number };

/** A ustar archive written byte by byte: any member type and name, no root needed. */
function tarOf(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const data = Buffer.from(e.data ?? '');
    const put = (s: string, at: number, len: number) => h.write(s, at, len, 'latin1');
    const oct = (n: number, at: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', at, len);
    put(e.name, 0, 100);
    oct(e.mode ?? 0o644, 100, 8);
    oct(0, 108, 8);
    oct(0, 116, 8);
    oct(e.type && e.type !== '0' ? 0 : data.length, 124, 12);
    oct(0, 136, 12);
    put(e.type ?? '0', 156, 1);
    put(e.link ?? '', 157, 100);
    put('ustar\0' + '00', 257, 8);
    put(' '.repeat(8), 148, 8);
    oct([...h].reduce((a, b) => a + b, 0), 148, 7);
    blocks.push(h);
    if (!e.type || e.type === '0') blocks.push(Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]));
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

async function unpack(t: { after(fn: () => void): void }, entries: Entry[]): Promise<{ into: string; error?: string }> {
  const dir = scratchDir(t, 'reclaim-archive-');
  const file = join(dir, 'a.tar');
  writeFileSync(file, tarOf(entries));
  const into = join(dir, 'tree');
  mkdirSync(into);
  try {
    await unpackTar(file, into, 'modules.tar');
    return { into };
  } catch (e) {
    return { into, error: (e as Error).message };
  }
}

const ok: Entry[] = [{ name: 'lib/', type: '5', mode: 0o7777 }, { name: 'lib/modules/', type: '5' }, { name: 'lib/modules/a.ko', data: 'ko', mode: 0o4755 }, { name: 'lib/modules/b.ko', type: '2', link: 'a.ko' }];

test('archive: plain data unpacks, with no set-uid bit and no mode kept', async (t) => {
  const r = await unpack(t, ok);
  assert.equal(r.error, undefined);
  assert.equal(readFileSync(join(r.into, 'lib/modules/b.ko'), 'utf8'), 'ko');
  assert.equal(statSync(join(r.into, 'lib/modules/a.ko')).mode & 0o7777, 0o644);
  assert.equal(statSync(join(r.into, 'lib')).mode & 0o7777, 0o755);
  assert.ok(lstatSync(join(r.into, 'lib/modules/b.ko')).isSymbolicLink());
});

test('archive: each hostile member is refused by name, and nothing of it is unpacked', async (t) => {
  const cases: Array<[Entry, RegExp]> = [
    [{ name: '../escape.ko', data: 'x' }, /\.\.\/escape\.ko: a path with '\.\.'/],
    [{ name: '/etc/cron.d/x', data: 'x' }, /\/etc\/cron\.d\/x: an absolute path/],
    [{ name: 'lib/modules/passwd.ko', type: '2', link: '/etc/passwd' }, /lib\/modules\/passwd\.ko: a link to \/etc\/passwd, outside the archive/],
    [{ name: 'lib/modules/up.ko', type: '2', link: '../../../etc/shadow' }, /up\.ko: a link to \.\.\/\.\.\/\.\.\/etc\/shadow, outside the archive/],
    [{ name: 'lib/modules/hard.ko', type: '1', link: '/etc/passwd' }, /hard\.ko: a hard link to \/etc\/passwd, outside the archive/],
    [{ name: 'dev/sda', type: '4' }, /dev\/sda: a device node/],
    [{ name: 'dev/mem', type: '3' }, /dev\/mem: a device node/],
    [{ name: 'lib/fifo', type: '6' }, /lib\/fifo: a FIFO/],
    [{ name: 'lib/modules/R/build', type: '2', link: '/usr/src/linux' }, /tar --exclude=build --exclude=source/],
  ];
  for (const [bad, re] of cases) {
    const r = await unpack(t, [...ok, bad]);
    assert.match(r.error ?? 'unpacked', re, bad.name);
    assert.match(r.error!, /^modules\.tar: refused/);
    assert.ok(!existsSync(join(r.into, 'lib')), `${bad.name}: nothing unpacked`);
  }
});

test('archive: a link through a link that leads outside is refused after all', async (t) => {
  const r = await unpack(t, [{ name: 'a/', type: '5' }, { name: 'a/b/', type: '5' }, { name: 'a/up', type: '2', link: '../..' }, { name: 'a/b/x', type: '2', link: '../up/..' }]);
  assert.match(r.error ?? 'unpacked', /a\/(b\/x|up).*outside/);
});

test('archive: tar -tv lines with spaces, quotes and links read back', () => {
  assert.deepEqual(memberOf('-rw-r--r-- root/root         2 2026-12-07 21:01 "a/sp ace/q\\"uo"'), { type: '-', name: 'a/sp ace/q"uo' });
  assert.deepEqual(memberOf('hrw-r--r-- root/root         0 2026-12-07 21:01 "a/hard" link to "a/f"'), { type: 'h', name: 'a/hard', target: 'a/f' });
  assert.equal(memberProblem({ type: 'l', name: 'a/b/c', target: '../x' }), undefined);
  assert.match(memberProblem({ type: 'l', name: 'a/c', target: '../../x' })!, /outside/);
});
