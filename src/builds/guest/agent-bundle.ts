// The JavaScript that runs on a target: agent.cjs, runner.cjs and the snapshot's entry, one
// CommonJS file each (module loading is slow under TCG).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../../native.js';

async function bundleEntry(name: 'agent' | 'runner' | 'snapshot'): Promise<string> {
  const outfile = join(packageRoot, 'out', 'agent', `${name}.cjs`);
  mkdirSync(join(packageRoot, 'out', 'agent'), { recursive: true });
  await build({
    entryPoints: [join(packageRoot, 'src', 'agent', `${name === 'agent' ? 'main' : name}.ts`)],
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

/** The guest agent, one file. */
export const bundleAgent = () => bundleEntry('agent');
/** The on-target runner (suite, model and agent in one process), one file. */
export const bundleRunner = () => bundleEntry('runner');
/** The entry of Node's start-up snapshot (src/agent/snapshot.ts), one file. */
export const bundleSnapshotEntry = () => bundleEntry('snapshot');
