// Scenarios against a scripted kernel, no guest: the agent's replies are made up here. Each
// quantity has both bounds (a kernel that reclaims too much fails as well as one that reclaims too
// little), and only a named precondition is tried again (issue 21, items 5 and 6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSuite } from '../../src/suite/runner.js';
import { suite } from '../../src/scenarios/index.js';
import { GuestError, type Guest } from '../../src/target/guest.js';

const ADDR = 0x7f0000000000n;
const PAGES = 32;

/** A kernel where 'anon' reclaim of pid 50 swaps out `swapKb` and writes `pswpout` pages; the subject had 200 kB of anon. */
function kernel(o: { swapKb: number; pswpout: number }) {
  let reclaimed = false;
  const features = { pageSize: 4096, cpus: 2, interfaces: { procReclaim: true, shrinkmem: false, pmadvRange: true, processMrelease: true }, swap: { totalKb: 262144 }, thp: 'never', hugepages: { sizeKb: 2048, total: 0 }, kernel: { release: '6.12.0', version: 'x', arch: 'arm64' } };
  const request = async (op: string, a: Record<string, unknown>) => {
    if (op === 'spawn') return { pid: 50, pidfd: 3 };
    if (op === 'subject') {
      const line = String(a.line);
      if (line.startsWith('map')) return { ok: true, map: { id: 1, kind: 'anon-private', addr: `0x${ADDR.toString(16)}`, pages: PAGES, bytes: PAGES * 4096 } };
      if (line.startsWith('verify')) return { ok: true, checked: PAGES, badCount: 0, bad: [] };
      return { ok: true, pages: PAGES };
    }
    if (op === 'write') {
      if (String(a.path).endsWith('/reclaim')) reclaimed = true;
      return { ret: String(a.text).length };
    }
    if (op === 'pagemap') return { entries: Array(PAGES).fill(reclaimed ? '4000000000000001' : '8100000000000001') };
    if (op === 'read') {
      const path = String(a.path);
      if (path === '/proc/50/status') return { text: `RssAnon:\t${reclaimed ? 200 - o.swapKb : 200} kB\nVmSwap:\t${reclaimed ? o.swapKb : 0} kB\n` };
      if (path === '/proc/50/smaps') return { text: `${ADDR.toString(16)}-${(ADDR + BigInt(PAGES * 4096)).toString(16)} rw-p 00000000 00:00 0\nRss:\t${reclaimed ? 0 : 128} kB\nSwap:\t${reclaimed ? 128 : 0} kB\n` };
      if (path === '/proc/meminfo') return { text: 'MemTotal: 1000000 kB\n' };
      if (path === '/proc/vmstat') return { text: `pswpout ${reclaimed ? o.pswpout : 0}\n` };
    }
    return {};
  };
  return { features, alive: true, request, batch: async (reqs: Array<{ op: string }>) => reqs.map(() => ({})) } as unknown as Guest;
}

test("reclaim.anon.private-swapped bounds VmSwap and pswpout from both sides", async () => {
  const scenario = suite.filter((s) => s.id === 'reclaim.anon.private-swapped');
  const verdict = async (swapKb: number, pswpout: number) => (await runSuite(kernel({ swapKb, pswpout }), scenario))[0]!;
  assert.equal((await verdict(128, 32)).status, 'pass', 'the mapping alone');
  assert.equal((await verdict(200, 50)).status, 'pass', "the mapping and the subject's own anon");
  const tooMuch = await verdict(4096, 32);
  assert.equal(tooMuch.status, 'fail');
  assert.match(tooMuch.reason!, /VmSwap 4096 kB: expected from the 128 kB swapped to the 200 kB of anon the subject had/);
  assert.match((await verdict(64, 32)).reason!, /VmSwap 64 kB/);
  const written = await verdict(128, 5000);
  assert.equal(written.status, 'fail');
  assert.match(written.reason!, /pswpout grew by 5000, expected from the 32 patterned pages to the subject's 50 resident anon pages/);
  assert.equal((await verdict(128, 8)).status, 'fail');
});

test('madvise.dontneed.unstable: an errno other than ESRCH from the dying target is a FAIL, not a precondition tried again', async () => {
  const scenario = suite.filter((s) => s.id === 'madvise.dontneed.unstable');
  const verdict = async (code: string) => {
    let tries = 0;
    const g = kernel({ swapKb: 0, pswpout: 0 }) as unknown as { batch: (r: Array<{ op: string }>) => Promise<unknown[]> };
    g.batch = async (reqs) => {
      if (!reqs.some((q) => q.op === 'process_madvise')) return reqs.map(() => ({}));
      tries++;
      const status = { text: 'State:\tS (sleeping)\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\nVmSize:\t 1000 kB\n' };
      return [{}, status, new GuestError('process_madvise', code, 1, code), { base64: '' }, status];
    };
    return { r: (await runSuite(g as unknown as Guest, scenario))[0]!, tries };
  };
  const einval = await verdict('EINVAL');
  assert.deepEqual([einval.r.status, einval.r.kind, einval.tries], ['fail', 'fail', 1]);
  assert.match(einval.r.reason!, /gave EINVAL, expected 0/);
  const esrch = await verdict('ESRCH');
  assert.deepEqual([esrch.r.status, esrch.r.kind, esrch.tries], ['error', 'precondition', 3]);
});
