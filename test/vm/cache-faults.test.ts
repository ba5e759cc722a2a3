// The cache under faults, for real: a corrupt kernel and guest image entry are built again, two
// builders at once both get a sound entry, and a full disk (a small loop-mounted file system as
// the cache) ends with a message that names the entry being written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { packageRoot } from '../../src/native.js';
import { buildKernel } from '../../src/builds/kernel.js';
import { bundleAgent } from '../../src/builds/guest/agent-bundle.js';
import { buildImage } from '../../src/builds/guest/image.js';
import { entryProblem } from '../../src/builds/cache.js';

/** fn's value and what it said on stderr. */
async function saying<T>(fn: () => Promise<T>): Promise<{ value: T; said: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let said = '';
  process.stderr.write = ((s: string) => ((said += s), write(s))) as typeof process.stderr.write;
  try {
    return { value: await fn(), said };
  } finally {
    process.stderr.write = write;
  }
}

test('cache faults: a corrupt kernel Image is named and built again', { timeout: 20 * 60_000 }, async () => {
  const k = await buildKernel({});
  appendFileSync(k.image, 'corrupt');
  const { value, said } = await saying(() => buildKernel({}));
  assert.equal(value.image, k.image);
  assert.equal(value.cached, false);
  assert.match(said, /cache: .*images\/\w+ is corrupt \(Image differs from what was published/);
  assert.equal(entryProblem(dirname(value.image)), undefined);
});

test('cache faults: a corrupt guest image is built again, by two builders at once', { timeout: 10 * 60_000 }, async () => {
  const agentBundle = await bundleAgent();
  const img = await buildImage({ agentBundle });
  appendFileSync(img.initrd, 'corrupt');
  // two processes at once: one builds under the lock, the other waits and takes its entry
  const script = `import(${JSON.stringify(join(packageRoot, 'dist/src/builds/guest/image.js'))}).then(async (m) => { const r = await m.buildImage({ agentBundle: ${JSON.stringify(agentBundle)} }); console.log(JSON.stringify(r)); })`;
  const one = () => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
  const [a, b] = await Promise.all([one(), one()]);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  assert.match(a.err + b.err, /is corrupt \(initramfs\.cpio differs/);
  assert.equal(JSON.parse(a.out).initrd, img.initrd);
  assert.equal(JSON.parse(b.out).initrd, img.initrd);
  assert.equal(entryProblem(dirname(img.initrd)), undefined);
});

test('cache faults: a full disk names the directory and the entry being written', { timeout: 5 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reclaim-full-'));
  const fs = join(dir, 'fs.img');
  const cache = join(dir, 'cache');
  execFileSync('truncate', ['-s', '48M', fs]);
  execFileSync('mkfs.ext4', ['-q', '-F', fs]);
  execFileSync('mkdir', ['-p', cache]);
  execFileSync('mount', ['-o', 'loop', fs, cache]);
  t.after(() => {
    execFileSync('umount', [cache]);
    rmSync(dir, { recursive: true, force: true });
  });
  // the first thing `kernel` writes is Debian's source tree, about 1.4 GB
  const r = await cli(['kernel'], { env: { ...process.env, RECLAIM_HARNESS_CACHE: cache } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /reclaim-harness: no space left on the disk of .*\/cache\/src\/debian-[^ ]+\.tmp-\d+ while writing the cache entry src\/debian-\S+: free some space, or set RECLAIM_HARNESS_CACHE/);
  assert.deepEqual(readdirSync(join(cache, 'src')), [], 'the half-written entry is gone');
  assert.ok(!existsSync(join(cache, 'locks', 'src-debian.lock')));
});
