// The version-dependent rules: which kernels they loosen, by how much, and that they loosen
// nothing on the kernels that count exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rssSlack, versionOf } from '../../src/model/versions.js';

const k = (release: string, cpus = 2) => ({ pageSize: 4096, procReclaim: false, pmadvRange: false, shrinkmem: false, release, cpus });

test('versionOf reads distro and plain release strings', () => {
  assert.deepEqual(versionOf('6.1.0-57-cloud-arm64'), [6, 1, 0]);
  assert.deepEqual(versionOf('6.12.117'), [6, 12, 117]);
  assert.deepEqual(versionOf('6.12.101+deb12-cloud-arm64'), [6, 12, 101]);
  assert.equal(versionOf('banana'), undefined);
});

test('status counters: exact on 6.12.39+, 6.16+ and an unknown kernel; per-thread fault lag before 6.2; percpu lag between', () => {
  for (const r of ['6.12.117', '6.12.39', '6.18.0', '6.6.99']) assert.deepEqual([rssSlack(k(r), 'RssAnon', 1).under, rssSlack(k(r), 'RssFile', 3).over], [0, 0], r);
  assert.deepEqual(rssSlack({ pageSize: 4096, procReclaim: false, pmadvRange: false, shrinkmem: false }, 'RssAnon', 1).under, 0);
  // 6.1: 65 faults per thread, one anon page each, 16 file pages each (64 kB fault-around)
  assert.deepEqual([rssSlack(k('6.1.0-57-cloud-arm64'), 'RssAnon', 1).under, rssSlack(k('6.1.0-57-cloud-arm64'), 'RssAnon', 1).over], [65, 0]);
  assert.deepEqual([rssSlack(k('6.1.0-57-cloud-arm64'), 'RssFile', 2).under, rssSlack(k('6.1.0-57-cloud-arm64'), 'RssFile', 2).over], [2 * 65 * 16, 2 * 65]);
  assert.deepEqual([rssSlack(k('6.1.0'), 'VmSwap', 1).under, rssSlack(k('6.1.0'), 'VmSwap', 1).over], [0, 65]);
  // 6.2 to 6.15, and 6.12 before the backport: fewer than max(32, 2 * CPUs) pages per CPU
  assert.equal(rssSlack(k('6.8.0', 2), 'RssShmem', 1).under, 2 * 31);
  assert.equal(rssSlack(k('6.12.38', 64), 'RssAnon', 1).over, 64 * 127);
  assert.match(rssSlack(k('6.1.0'), 'RssAnon', 1).why, /f1a7941243c1/);
});
