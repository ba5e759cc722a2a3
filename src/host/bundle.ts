// Bundles the guest agent into one CommonJS file: module loading is slow under TCG.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../native.js';

export async function bundleAgent(): Promise<string> {
  const outfile = join(packageRoot, 'out', 'agent', 'agent.cjs');
  mkdirSync(join(packageRoot, 'out', 'agent'), { recursive: true });
  await build({
    entryPoints: [join(packageRoot, 'src', 'agent', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: false,
    sourcemap: false,
    logLevel: 'warning',
    // import.meta.url has no CommonJS meaning; give it the bundle's own URL.
    define: { 'import.meta.url': '__agentUrl' },
    banner: { js: "const __agentUrl = require('url').pathToFileURL(__filename).href;" },
  });
  return outfile;
}
