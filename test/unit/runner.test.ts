// The runner's verdicts without a guest: a feature the kernel was built with
// but does not show is a FAIL; one it was not built with is a SKIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldRounds, runSuite, selectScenarios } from '../../src/suite/runner.js';
import { fromConfig, parseExpect } from '../../src/protocol/kconfig.js';
import { expectedOf } from '../../src/builds/kernel.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestError, type Guest } from '../../src/target/guest.js';
import { notDying } from '../../src/suite/trace.js';
import { Mismatch, PreconditionError } from '../../src/suite/failures.js';
import { type Result } from '../../src/suite/types.js';
import type { Scenario } from '../../src/suite/types.js';

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

test('the expected interfaces: from a .config, with where it came from, and from --expect', () => {
  const cfg = 'CONFIG_PROCESS_RECLAIM=y\n# CONFIG_SHRINKMEM is not set\nCONFIG_PROCESS_MADVISE_REAP=y\nCONFIG_SWAP=y\n';
  assert.deepEqual([...fromConfig(cfg, '/proc/config.gz')].sort(), [['pmadv-range', 'CONFIG_PROCESS_MADVISE_REAP=y in /proc/config.gz'], ['proc-reclaim', 'CONFIG_PROCESS_RECLAIM=y in /proc/config.gz']]);
  assert.deepEqual([...fromConfig('CONFIG_SWAP=y\n', 'x')], []);
  assert.deepEqual([...parseExpect('shrinkmem, proc-reclaim').keys()], ['shrinkmem', 'proc-reclaim']);
  assert.throws(() => parseExpect('shrinkmem,reclaim'), /not an interface: reclaim/);
  assert.throws(() => parseExpect(''), /comma-separated list of proc-reclaim, pmadv-range, shrinkmem/);
});

test('expectedOf: the .config of a kernel built here, or the one beside a given Image of ours, plus --expect', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reclaim-expect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'Image'), '');
  writeFileSync(join(dir, 'config'), 'CONFIG_PROCESS_RECLAIM=y\nCONFIG_SHRINKMEM=y\n');
  assert.deepEqual([...expectedOf({ image: join(dir, 'Image') }).keys()], [], 'no meta.json: not a cache entry of ours');
  writeFileSync(join(dir, 'meta.json'), '{}');
  assert.deepEqual([...expectedOf({ image: join(dir, 'Image') })], [['proc-reclaim', `CONFIG_PROCESS_RECLAIM=y in ${join(dir, 'config')} (beside the Image)`], ['shrinkmem', `CONFIG_SHRINKMEM=y in ${join(dir, 'config')} (beside the Image)`]]);
  assert.deepEqual([...expectedOf({ image: 'x', config: join(dir, 'config') }, ['pmadv-range']).values()], ["CONFIG_PROCESS_RECLAIM=y in the built kernel's .config", "CONFIG_SHRINKMEM=y in the built kernel's .config", '--expect']);
});

test('missing feature: FAIL when expected, SKIP when not; other needs still SKIP', async () => {
  const list = [scenario('r', { feature: 'proc-reclaim' }), scenario('range', { feature: 'pmadv-range' }), scenario('swap', { feature: 'shrinkmem', swap: true }), scenario('ok', { feature: 'shrinkmem' })];
  const built = await runSuite(fakeGuest, list, () => {}, fromConfig('CONFIG_PROCESS_RECLAIM=y\nCONFIG_SHRINKMEM=y\n', "the built kernel's .config"));
  assert.deepEqual(built.map((r) => [r.id, r.status, r.kind]), [['r', 'fail', 'fail'], ['range', 'skip', undefined], ['swap', 'skip', undefined], ['ok', 'pass', undefined]]);
  assert.equal(built[0]!.reason, "expected /proc/PID/reclaim (CONFIG_PROCESS_RECLAIM=y in the built kernel's .config) but the target lacks /proc/PID/reclaim");
  const vanilla = await runSuite(fakeGuest, list);
  assert.deepEqual(vanilla.map((r) => r.status), ['skip', 'skip', 'skip', 'pass']);
  // on a target whose kernel has its config to read (local, ssh, LAVA, --kernel): the target's own word
  const own = { ...fakeGuest, features: { ...features, kconfig: { source: '/proc/config.gz', lines: ['CONFIG_PROCESS_MADVISE_REAP=y'] } } } as unknown as Guest;
  const fromTarget = await runSuite(own, list);
  assert.deepEqual(fromTarget.map((r) => r.status), ['skip', 'fail', 'skip', 'pass']);
  assert.match(fromTarget[1]!.reason!, /CONFIG_PROCESS_MADVISE_REAP=y in \/proc\/config.gz/);
  assert.deepEqual((await runSuite(fakeGuest, list, () => {}, parseExpect('proc-reclaim'))).map((r) => r.status), ['fail', 'skip', 'skip', 'pass']);
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
  assert.equal(stuck!.kind, 'timeout', 'a killed subject that never exits counts as the kernel\'s');
  assert.match(stuck!.reason!, /^cleanup: kill: ETIMEDOUT: pid 42 is in state S/);
  // a cleanup error after a missed precondition ends the tries: a retry would drop it
  let tries = 0;
  const flaky: Scenario = { id: 'p', title: 'p', needs: {}, run: async (ctx) => { await ctx.spawn(); if (++tries === 1) throw new PreconditionError('precondition not reached: state S'); } };
  const [r] = await runSuite(guest(true), [flaky]);
  assert.deepEqual([r!.status, r!.kind, tries], ['error', 'timeout', 1]);
  assert.match(r!.reason!, /^cleanup: /);
});

test('Result.kind says why a scenario did not pass', async () => {
  const throws = (id: string, e: Error): Scenario => ({ id, title: id, needs: {}, run: async () => { throw e; } });
  const rs = await runSuite(fakeGuest, [
    throws('f', new Mismatch('page lost')),
    throws('t', new GuestError('write', 'ETIMEDOUT', 0, 'no reply')),
    throws('c', new GuestError('guest', 'ECRASH', 0, 'kernel BUG')),
    throws('x', new GuestError('guest', 'EGUESTEXIT', 0, 'QEMU exited')),
    throws('h', new GuestError('subject', 'EAGENT', 0, 'bad reply')),
    throws('p', new PreconditionError('precondition not reached: state R')),
    throws('e', new TypeError('oops')),
  ]);
  assert.deepEqual(rs.map((r) => [r.id, r.status, r.kind]), [['f', 'fail', 'fail'], ['t', 'error', 'timeout'], ['c', 'error', 'crash'], ['x', 'error', 'crash'], ['h', 'error', 'harness'], ['p', 'error', 'precondition'], ['e', 'error', 'harness']]);
  const lost = await runSuite({ ...fakeGuest, alive: false, lostReason: new GuestError('guest', 'ECRASH', 0, 'x') } as unknown as Guest, [scenario('a', {})]);
  assert.deepEqual(lost.map((r) => [r.status, r.kind]), [['error', 'lost']]);
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
