// The fresh-machine path: a command finds the tools it needs missing and
// installs them with apt-get (as root), or names them and how to get them.
// PATH is a shadow of the real one with the tool left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { packageRoot } from '../../src/native.js';
import { missingFor, NEEDS, onPath, requirements } from '../../src/builds/doctor.js';
import type { RunReport } from '../../src/report/json.js';
import { cli, scratchDir } from '../helpers/cli.js';

const NOBODY = 65534;

/** A directory of links to every command on path except the hidden ones. */
function shadowPath(t: { after(fn: () => void): void }, hide: string[], path = process.env.PATH ?? ''): string {
  const dir = scratchDir(t, 'reclaim-path-');
  chmodSync(dir, 0o755);
  for (const d of path.split(delimiter)) {
    if (!d || !existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (hide.includes(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(d, name), join(dir, name));
    }
  }
  return dir;
}

test('every requirement is found by what it provides', () => {
  assert.equal(onPath('sh', '/nonexistent:/bin'), '/bin/sh');
  assert.equal(onPath('sh', '/nonexistent'), undefined);
  assert.deepEqual(missingFor(NEEDS), [], 'npm test installs everything first (doctor --fix)');
  for (const r of requirements) assert.ok(r.needs.length && r.why && r.provides, r.pkg);
});

test('run as a user with mkfs.ext4 missing names it and how to get it, before any work', async (t) => {
  // uid nobody needs a copy it can read (the checkout may sit under /root).
  const copy = scratchDir(t, 'reclaim-nobody-cli-');
  chmodSync(copy, 0o755);
  for (const d of ['dist', 'node_modules', 'qemu', 'package.json']) cpSync(join(packageRoot, d), join(copy, d), { recursive: true });
  // root's own PATH entries (pyenv's shims, say) are out of nobody's reach
  const path = shadowPath(t, ['mkfs.ext4'], (process.env.PATH ?? '').split(delimiter).filter((d) => !d.startsWith('/root/')).join(delimiter));
  const home = join(copy, 'home');
  mkdirSync(home);
  chmodSync(home, 0o777);
  const r = await cli(['run', '--output', join(home, 'out')], { root: copy, env: { PATH: path, HOME: home }, uid: NOBODY });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^reclaim-harness: missing mkfs\.ext4 \(e2fsprogs: the guest's ext4 scratch disk\); as root run: apt-get install -y e2fsprogs$/m);
  assert.doesNotMatch(r.stderr, /\] (kernel|image|run):/);
});

test('run as root with mkfs.ext4 missing installs e2fsprogs with apt-get, says so in one line, and goes on', async (t) => {
  const calls = join(scratchDir(t, 'reclaim-apt-'), 'calls');
  const mkfs = onPath('mkfs.ext4');
  assert.ok(mkfs, 'mkfs.ext4 on PATH');
  // Stands in for apt-get so the test can take the tool away and give it back;
  // the real apt-get path is what a clean machine takes (README, issue 10 note).
  const dir = shadowPath(t, ['mkfs.ext4', 'apt-get']);
  writeFileSync(
    join(dir, 'apt-get'),
    `#!/bin/sh\necho "$*" >> ${calls}\ncase "$*" in *install*e2fsprogs*) ln -sf ${mkfs} ${join(dir, 'mkfs.ext4')} ;; esac\n`,
    { mode: 0o755 },
  );
  const out = scratchDir(t, 'reclaim-run-');
  const r = await cli(['run', '--filter', '^madvise\\.pageout\\.file$', '--format', 'json', '--output', out], { env: { ...process.env, PATH: dir } });
  const setup = r.stderr.split('\n').filter((l) => /\] setup: installing/.test(l));
  assert.deepEqual(setup.map((l) => l.replace(/^\[\s*[\d.]+s\] /, '')), ["setup: installing e2fsprogs (the guest's ext4 scratch disk) with apt-get"], r.stderr);
  assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['-q update', '-q install -y e2fsprogs']);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const rep = JSON.parse(r.stdout) as RunReport;
  assert.deepEqual(rep.results.map((x) => `${x.id} ${x.status}`), ['madvise.pageout.file pass']);
});
