// Cross-builds the shim and subject (binding.gyp) for another architecture.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../native.js';
import { ensureTools } from './doctor.js';
import { progress } from '../log.js';

const TOOLCHAINS: Record<string, { prefix: string; gypArch: string }> = {
  arm64: { prefix: 'aarch64-linux-gnu-', gypArch: 'arm64' },
};

export interface CrossBuild {
  arch: string;
  shim: string;
  subject: string;
  cached: boolean;
}

/** Node's headers: npm's nodedir setting, else Debian's /usr/include/node. */
export function nodeDir(): string | undefined {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm) return fromNpm;
  return existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined;
}

function sourceKey(cc: string, ccVersion: string): string {
  const h = createHash('sha256').update(cc).update(ccVersion);
  h.update(readFileSync(join(packageRoot, 'binding.gyp')));
  for (const f of readdirSync(join(packageRoot, 'native')).sort()) {
    h.update(f).update(readFileSync(join(packageRoot, 'native', f)));
  }
  return h.digest('hex');
}

/**
 * Builds in out/native-ARCH/ (a copy of binding.gyp and native/), so the host
 * build in build/ is left alone. Skips the build when the sources are unchanged.
 */
export async function crossBuild(arch: string): Promise<CrossBuild> {
  const tc = TOOLCHAINS[arch];
  if (!tc) throw new Error(`cross-build: unsupported arch '${arch}' (supported: ${Object.keys(TOOLCHAINS).join(', ')})`);
  const cc = `${tc.prefix}gcc`;
  await ensureTools(['cross']);
  const version = await execa(cc, ['--version']);
  const dir = join(packageRoot, 'out', `native-${arch}`);
  const out = join(dir, 'build', 'Release');
  const result = { arch, shim: join(out, 'reclaim_shim.node'), subject: join(out, 'subject') };
  const key = sourceKey(cc, version.stdout);
  const stamp = join(dir, 'source-key');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key && existsSync(result.shim) && existsSync(result.subject)) {
    return { ...result, cached: true };
  }
  progress('cross-build', `building shim and subject for ${arch} in ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(packageRoot, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(packageRoot, 'native'), join(dir, 'native'), { recursive: true });
  const nodedir = nodeDir();
  const gyp = join(packageRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const args = [gyp, 'rebuild', `--arch=${tc.gypArch}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const r = await execa(process.execPath, args, {
    cwd: dir,
    env: { CC: cc, CXX: `${tc.prefix}g++`, LINK: `${tc.prefix}g++` },
    all: true,
    reject: false,
  });
  writeFileSync(join(dir, 'build.log'), r.all ?? '');
  if (r.exitCode !== 0) {
    const firstError = (r.all ?? '').split('\n').find((l) => /error/i.test(l)) ?? '(no error line found)';
    throw new Error(`cross-build for ${arch} failed: ${firstError}\nfull log: ${join(dir, 'build.log')}`);
  }
  writeFileSync(stamp, key);
  progress('cross-build', `done: ${result.shim}, ${result.subject}`);
  return { ...result, cached: false };
}
