// The runner's verdicts without a guest: a feature the kernel was built with
// but does not show is a FAIL; one it was not built with is a SKIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtFeatures, runSuite } from '../src/suite/runner.js';
import type { Guest } from '../src/host/guest.js';
import type { Scenario } from '../src/suite/types.js';

const features = {
  pageSize: 4096,
  cpus: 2,
  interfaces: { procReclaim: false, shrinkmem: true, pmadvRange: false, processMrelease: true },
  swap: { totalKb: 0 },
  thp: 'always',
  hugepages: { sizeKb: 2048, total: 0 },
  kernel: { release: 'x', version: 'x', arch: 'arm64' },
};
const fakeGuest = { features, alive: true, request: async () => ({}) } as unknown as Guest;
const scenario = (id: string, needs: Scenario['needs']): Scenario => ({ id, title: id, needs, run: async () => {} });

test('builtFeatures reads the reclaim options from a .config', () => {
  const cfg = 'CONFIG_PROCESS_RECLAIM=y\n# CONFIG_SHRINKMEM is not set\nCONFIG_PROCESS_MADVISE_REAP=y\nCONFIG_SWAP=y\n';
  assert.deepEqual([...builtFeatures(cfg)].sort(), ['pmadv-range', 'proc-reclaim']);
  assert.deepEqual([...builtFeatures('CONFIG_SWAP=y\n')], []);
});

test('missing feature: FAIL when built in, SKIP when not; other needs still SKIP', async () => {
  const list = [scenario('r', { feature: 'proc-reclaim' }), scenario('range', { feature: 'pmadv-range' }), scenario('swap', { feature: 'shrinkmem', swap: true }), scenario('ok', { feature: 'shrinkmem' })];
  const built = await runSuite(fakeGuest, list, () => {}, new Set(['proc-reclaim', 'shrinkmem'] as const));
  assert.deepEqual(built.map((r) => [r.id, r.status]), [['r', 'fail'], ['range', 'skip'], ['swap', 'skip'], ['ok', 'pass']]);
  assert.match(built[0]!.reason!, /built with CONFIG_PROCESS_RECLAIM=y but the guest lacks \/proc\/PID\/reclaim/);
  const vanilla = await runSuite(fakeGuest, list);
  assert.deepEqual(vanilla.map((r) => r.status), ['skip', 'skip', 'skip', 'pass']);
});

test('order: swap-off scenarios last after one swapoff, as_user scenarios late; each sees the swap state it asked for', async () => {
  const reqs: Array<[string, unknown]> = [];
  const guest = { features: { ...features, swap: { totalKb: 1024 } }, alive: true, request: async (op: string, a: unknown) => (reqs.push([op, a]), {}) } as unknown as Guest;
  const seen: Array<[string, boolean]> = [];
  const sc = (id: string, needs: Scenario['needs']): Scenario => ({ id, title: id, needs, run: async (ctx) => void seen.push([id, ctx.swapOn]) });
  const list = [sc('off1', { swap: false }), sc('user', { asUser: true }), sc('any', {}), sc('on', { swap: true }), sc('off2', { swap: false })];
  const res = await runSuite(guest, list);
  assert.deepEqual(res.map((r) => r.id), ['any', 'on', 'user', 'off1', 'off2']);
  assert.deepEqual(seen, [['any', true], ['on', true], ['user', true], ['off1', false], ['off2', false]]);
  assert.deepEqual(reqs.filter(([op]) => op === 'swap'), [['swap', { on: false }]], 'one swapoff');
  assert.ok(reqs.findIndex(([op]) => op === 'as_user') < reqs.findIndex(([op]) => op === 'swap'), 'workers started before the suite');
});
