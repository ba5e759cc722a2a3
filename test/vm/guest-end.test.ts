// A guest that ends early says why: the guest /init's last word, QEMU's own
// error, or the kernel's last lines, with the console log's path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Guest, GuestError } from '../../src/target/guest.js';
import { prepare } from '../../src/pipeline.js';
import type { RunReport } from '../../src/report/json.js';
import { debianCloudKernel } from '../helpers/distro-kernel.js';
import { scratchDir, cli } from '../helpers/cli.js';

test("run --kernel on Debian's cloud kernel (zram is a module there) prints /init's reason", async (t) => {
  const { pkg, vmlinuz } = await debianCloudKernel();
  const dir = scratchDir(t, 'reclaim-end-');
  const r = await cli(['run', '--kernel', vmlinuz, '--output', dir]);
  assert.equal(r.code, 1, r.stderr);
  const log = join(dir, 'console.log');
  assert.match(r.stderr, new RegExp(`the guest did not come up: .*EGUESTEXIT: QEMU exited \\(0\\) after \\d+ ms, before the agent was ready: reclaim-init: reclaim.swap=256: no /sys/block/zram0 \\(CONFIG_ZRAM; if it is a module, run --modules\\)\\nconsole: ${log}`), `${pkg}\n${r.stderr}`);
  const rep = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunReport;
  assert.deepEqual(rep.results.map((x) => [x.id, x.status]), [['guest.boot', 'error']]);
  assert.match(rep.results[0]!.reason!, /no \/sys\/block\/zram0/);
  for (const f of ['results.ktap', 'results.junit.xml', 'results.txt']) assert.ok(existsSync(join(dir, f)), f);
  assert.match(readFileSync(join(dir, 'results.ktap'), 'utf8'), /not ok .*guest/);
});

test("a guest QEMU will not start gives QEMU's own message", async (t) => {
  const { kernel, image } = await prepare({ patches: 'none' });
  const dir = scratchDir(t, 'reclaim-end-');
  await assert.rejects(Guest.start({ kernel: kernel.image, initrd: image.initrd, outDir: dir, memMiB: 10, timeoutMs: 30_000 }), (e: GuestError) => {
    assert.equal(e.code, 'EGUESTEXIT');
    assert.match(e.message, /QEMU exited \(1\)[^]*: qemu-system-aarch64: [^\n]+\nconsole: /);
    return true;
  });
  assert.match(readFileSync(join(dir, 'console.log'), 'utf8'), /^qemu: qemu-system-aarch64: /m);
});

test('a kernel that prints nothing: the boot timeout says so', async (t) => {
  const { image } = await prepare({ patches: 'none' });
  const dir = scratchDir(t, 'reclaim-end-');
  // An arm64 Image header over an endless loop (b .): QEMU boots it, nothing happens.
  const fake = Buffer.alloc(1 << 16);
  fake.writeUInt32LE(0x14000000, 0);
  fake.writeUInt32LE(0x644d5241, 0x38);
  writeFileSync(join(dir, 'Image'), fake);
  await assert.rejects(Guest.start({ kernel: join(dir, 'Image'), initrd: image.initrd, outDir: dir, timeoutMs: 4000 }), (e: GuestError) => {
    assert.equal(e.code, 'ETIMEDOUT');
    assert.match(e.message, /no agent after 4000 ms; the kernel printed nothing on the console \(ttyAMA0\)[^]*\nconsole: .*console\.log$/);
    return true;
  });
});
