// Runs one shim call in a process of its own (spawned with another uid) and
// prints {"ok":true,"ret":"N"} or {"ok":false,"code":...,"errno":...}.
// Usage: as-user.js SHIM_PATH pidfd_madvise|pidfd_mrelease TARGET_PID ADVICE
import { createRequire } from 'node:module';
import type { Native } from '../../src/native.js';

const [shimPath, op, pidArg, adviceArg] = process.argv.slice(2);
const shim = createRequire(import.meta.url)(shimPath!) as Native;
try {
  const pidfd = shim.pidfdOpen(Number(pidArg));
  let ret = 0n;
  if (op === 'pidfd_madvise') ret = shim.processMadvise(pidfd, [{ addr: 0n, len: BigInt(shim.pageSize) }], Number(adviceArg), 0);
  else shim.processMrelease(pidfd, 0);
  console.log(JSON.stringify({ ok: true, ret: String(ret), uid: process.getuid!() }));
} catch (e) {
  const err = e as { code: string; errno: number; syscall: string };
  console.log(JSON.stringify({ ok: false, code: err.code, errno: err.errno, syscall: err.syscall, uid: process.getuid!() }));
}
