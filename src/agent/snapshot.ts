// Node's own start-up, taken once as a V8 startup snapshot (node --build-snapshot) when the guest
// image is built. Debian's Node 18 is built without the built-in snapshot, so every start runs
// Node's bootstrap again: about 1.5 s under TCG. `node --snapshot-blob node.blob FILE ARGS`
// then runs FILE as `node FILE ARGS` would.
import { startupSnapshot } from 'node:v8';
// Only Node's own bootstrap is in it: the agent's built-ins load after (child_process, net and
// module cannot be in a Node 18 user snapshot; with fs, os and the rest it was no faster, measured).

startupSnapshot.setDeserializeMainFunction(() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolve } = require('node:path') as typeof import('node:path');
  const file = resolve(process.argv[1]!);
  process.argv[1] = file;
  // module cannot be in a Node 18 user snapshot either; loading it after one warns that it is not
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => String(w).includes('not yet supported in user snapshots') || (emit as (...a: unknown[]) => void).call(process, w, ...rest)) as typeof emit;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runMain } = require('node:module') as { runMain(f: string): void };
  process.emitWarning = emit;
  runMain(file);
});
