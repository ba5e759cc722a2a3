// Debian's own arm64 cloud kernel (drivers as modules), fetched with apt-get
// download and kept in the harness cache: a kernel the project did not build.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, publishDir, withLock } from '../../src/host/cache.js';

/** The vmlinuz of the package linux-image-cloud-arm64 depends on, e.g. linux-image-6.1.0-57-cloud-arm64. */
export async function debianCloudKernel(): Promise<{ pkg: string; vmlinuz: string }> {
  const deps = (await execa('apt-cache', ['depends', 'linux-image-cloud-arm64:arm64'])).stdout;
  const pkg = /Depends: (linux-image-[\w.+-]+-cloud-arm64)/.exec(deps)?.[1];
  if (!pkg) throw new Error(`apt-cache depends linux-image-cloud-arm64:arm64 names no kernel:\n${deps}`);
  const dir = join(cacheDir('test-kernels'), pkg);
  const find = () => (existsSync(join(dir, 'boot')) ? readdirSync(join(dir, 'boot')).find((f) => f.startsWith('vmlinuz-')) : undefined);
  if (!find()) {
    await withLock(`test-kernel-${pkg}`, async () => {
      if (find()) return;
      await publishDir(dir, async (tmp) => {
        await execa('apt-get', ['download', `${pkg}:arm64`], { cwd: tmp });
        const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'))!;
        await execa('dpkg', ['-x', join(tmp, deb), tmp]);
        rmSync(join(tmp, deb));
      });
    });
  }
  return { pkg, vmlinuz: join(dir, 'boot', find()!) };
}
