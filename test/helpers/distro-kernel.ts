// Debian's own arm64 cloud kernels (drivers as modules), fetched with apt-get download and kept,
// package and all, in the harness cache: kernels the project did not build.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, publishDir, withLock } from '../../src/builds/cache.js';

/**
 * The package a meta-package depends on (linux-image-cloud-arm64: 6.1; linux-image-6.12-cloud-arm64),
 * e.g. linux-image-6.1.0-57-cloud-arm64: its .deb and the vmlinuz unpacked from it.
 */
export async function debianCloudKernel(meta = 'linux-image-cloud-arm64'): Promise<{ pkg: string; deb: string; vmlinuz: string }> {
  const deps = (await execa('apt-cache', ['depends', `${meta}:arm64`])).stdout;
  const pkg = /Depends: (linux-image-[\w.+-]+-cloud-arm64)/.exec(deps)?.[1];
  if (!pkg) throw new Error(`apt-cache depends ${meta}:arm64 names no kernel:\n${deps}`);
  const dir = join(cacheDir('test-kernels'), `${pkg}-deb`);
  const find = (sub: string, re: RegExp) => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).find((f) => re.test(f)) : undefined);
  if (!find('.', /\.deb$/) || !find('boot', /^vmlinuz-/)) {
    await withLock(`test-kernel-${pkg}`, async () => {
      if (find('.', /\.deb$/) && find('boot', /^vmlinuz-/)) return;
      await publishDir(dir, async (tmp) => {
        await execa('apt-get', ['download', `${pkg}:arm64`], { cwd: tmp });
        const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'))!;
        await execa('dpkg', ['-x', join(tmp, deb), tmp]);
      });
    });
  }
  return { pkg, deb: join(dir, find('.', /\.deb$/)!), vmlinuz: join(dir, 'boot', find('boot', /^vmlinuz-/)!) };
}
