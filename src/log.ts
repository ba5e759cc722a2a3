// Progress lines on stderr, so stdout stays clean for --json output.
const t0 = Date.now();

export function progress(phase: string, msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s}s] ${phase}: ${msg}\n`);
}
