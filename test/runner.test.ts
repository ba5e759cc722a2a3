// The runner's verdicts without a guest: a feature the kernel was built with
// but does not show is a FAIL; one it was not built with is a SKIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtFeatures, foldRounds, runSuite, selectScenarios } from '../src/suite/runner.js';
import { GuestError, type Guest } from '../src/host/guest.js';
import { notDying } from '../src/suite/trace.js';
import { Mismatch, PreconditionError, type Result } from '../src/suite/types.js';
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
  assert.deepEqual(reqs.filter(([op]) => op === 'swap'), [['swap', { on: false }], ['swap', { on: true }]], 'one swapoff, and swap back on at the end');
  assert.ok(reqs.findIndex(([op]) => op === 'as_user') < reqs.findIndex(([op]) => op === 'swap'), 'workers started before the suite');
});

test('foldRounds: the worst verdict of each scenario, and the ones that changed', () => {
  const r = (id: string, status: Result['status'], reason?: string): Result => ({ id, status, reason, durationMs: 1 });
  const { results, changed } = foldRounds([
    [r('a', 'pass'), r('b', 'pass'), r('c', 'skip', 'no swap'), r('d', 'fail', 'x')],
    [r('a', 'pass'), r('b', 'fail', 'lost page'), r('c', 'skip', 'no swap'), r('d', 'fail', 'x')],
    [r('a', 'pass'), r('b', 'pass'), r('c', 'skip', 'no swap')],
  ]);
  assert.deepEqual(results.map((x) => [x.id, x.status, x.reason]), [['a', 'pass', undefined], ['b', 'fail', 'lost page'], ['c', 'skip', 'no swap'], ['d', 'fail', 'x']]);
  assert.deepEqual(changed, [
    { id: 'b', verdicts: ['pass', 'fail', 'pass'], reason: 'lost page' },
    { id: 'd', verdicts: ['fail', 'fail', 'error'], reason: 'x' },
  ]);
  assert.deepEqual(foldRounds([[r('a', 'pass')]]).changed, []);
});

test('cleanup waits for killed subjects to let go of their memory; one that will not is an ERROR', async () => {
  const batches: Array<Array<{ op: string }>> = [];
  const guest = (stuck: boolean) =>
    ({
      features,
      alive: true,
      request: async (op: string) => (op === 'spawn' ? { pid: 42, pidfd: 7 } : {}),
      batch: async (reqs: Array<{ op: string; states?: string }>) => (batches.push(reqs), reqs.map((q) => (q.op === 'kill' && q.states && stuck ? new GuestError('kill', 'ETIMEDOUT', 0, 'pid 42 is in state S') : {}))),
    }) as unknown as Guest;
  const spawns: Scenario = { id: 's', title: 's', needs: {}, run: async (ctx) => void (await ctx.spawn()) };
  assert.deepEqual((await runSuite(guest(false), [spawns])).map((x) => x.status), ['pass']);
  // one round trip: each kill waits for its process in the agent
  assert.deepEqual(batches, [[{ op: 'close', fd: 7 }, { op: 'kill', pid: 42, states: 'ZX-', timeoutMs: 5000 }]]);
  const [stuck] = await runSuite(guest(true), [spawns]);
  assert.equal(stuck!.status, 'error');
  assert.match(stuck!.reason!, /^cleanup: kill: ETIMEDOUT: pid 42 is in state S/);
});

test('notDying: a SIGKILLed process is dying while SIGKILL is pending and it is no zombie', () => {
  const status = (state: string, sig: string, shd: string) => `Name:\tsubject\nState:\t${state}\nSigPnd:\t${sig}\nShdPnd:\t${shd}\n`;
  assert.equal(notDying(status('S (sleeping)', '0000000000000100', '0000000000000100')), undefined);
  assert.equal(notDying(status('R (running)', '0000000000000000', '0000000000000100')), undefined);
  assert.equal(notDying(status('S (sleeping)', '0000000000000000', '0000000000000000')), 'no SIGKILL is pending (state S)');
  assert.equal(notDying(status('S (sleeping)', '0000000000000080', '0000000000000200')), 'no SIGKILL is pending (state S)');
  assert.equal(notDying(status('Z (zombie)', '0000000000000100', '0000000000000100')), 'it is already in state Z');
  assert.equal(notDying(undefined), 'it is gone');
});

test('a precondition not reached is tried again (3 tries in all), never a verdict by itself', async () => {
  let tries = 0;
  const flaky = (failFirst: number, then?: Error): Scenario => ({
    id: `f${failFirst}`,
    title: 'f',
    needs: {},
    run: async () => {
      if (++tries <= failFirst) throw new PreconditionError(`precondition not reached: try ${tries}`);
      if (then) throw then;
    },
  });
  const once = async (sc: Scenario) => ((tries = 0), (await runSuite(fakeGuest, [sc]))[0]!);
  const ok = await once(flaky(2));
  assert.deepEqual([ok.status, ok.retried, tries], ['pass', ['precondition not reached: try 1', 'precondition not reached: try 2'], 3]);
  const never = await once(flaky(5));
  assert.deepEqual([never.status, never.reason, never.retried?.length, tries], ['error', 'precondition not reached: try 3', 2, 3]);
  const fails = await once(flaky(1, new Mismatch('page lost')));
  assert.deepEqual([fails.status, fails.reason, fails.retried], ['fail', 'page lost', ['precondition not reached: try 1']]);
  const plain = await once(flaky(0, new Mismatch('page lost')));
  assert.deepEqual([plain.status, plain.retried, tries], ['fail', undefined, 1], 'a FAIL is not tried again');
});

test('depth: full scenarios only with --depth full, and their results say so', async () => {
  const all = [scenario('a.one', {}), { ...scenario('a.slow', {}), depth: 'full' as const }, scenario('b.one', {})];
  assert.deepEqual(selectScenarios(all).map((s) => s.id), ['a.one', 'b.one']);
  assert.deepEqual(selectScenarios(all, '^a', 'full').map((s) => s.id), ['a.one', 'a.slow']);
  const rs = await runSuite(fakeGuest, selectScenarios(all, undefined, 'full'));
  assert.deepEqual(rs.map((r) => [r.id, r.status, r.depth]), [['a.one', 'pass', undefined], ['a.slow', 'pass', 'full'], ['b.one', 'pass', undefined]]);
});
