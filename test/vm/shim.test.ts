// The syscall shim against this machine's own kernel: real calls, real outcomes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultShimPath, defaultSubjectPath, isSyscallError } from '../../src/native.js';
import { readPagemap } from '../../src/agent/pagemap.js';
import { C, PAGE, errnoOf, ext4Scratch, iov, shim, spawnSubject } from '../helpers/fixtures.js';

const NOBODY = 65534;

test('constants are the kernel ABI values', () => {
  assert.equal(C.PMADV_FLAG_RANGE, 1);
  assert.equal(C.MADV_COLD, 20);
  assert.equal(C.MADV_PAGEOUT, 21);
  assert.equal(C.MADV_COLLAPSE, 25);
  // asm-generic numbers, shared by x86-64 and arm64 for these syscalls
  assert.deepEqual([C.SYS_pidfd_send_signal, C.SYS_pidfd_open, C.SYS_process_madvise, C.SYS_process_mrelease], [424, 434, 440, 448]);
  assert.equal(shim.arch, process.arch);
  assert.ok(PAGE >= 4096 && (PAGE & (PAGE - 1)) === 0);
});

test('failures throw Error with code, errno and syscall', () => {
  let caught: unknown;
  try {
    shim.close(100000);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error && isSyscallError(caught));
  assert.equal(caught.code, 'EBADF');
  assert.equal(caught.errno, 9);
  assert.equal(caught.syscall, 'close');
  assert.match(caught.message, /^close: EBADF/);
  assert.throws(() => shim.processMadvise(0, [{ addr: 1, len: 2 } as never], C.MADV_COLD, 0), TypeError);
});

test('MADV_PAGEOUT drops a clean private file mapping on ext4; contents survive', async (t) => {
  const { dir, fsType } = ext4Scratch(t);
  if (!dir) return t.skip(`build/ is on filesystem ${fsType}, not ext4`);
  const s = await spawnSubject(t);
  const m = await s.map('file-private', 16, { path: join(dir, 'clean.dat') });
  await s.touch(m.id, 'read');
  const before = readPagemap(s.pid, m.addr, 16, PAGE);
  assert.equal(before.filter((e) => e.present && e.fileShared).length, 16, 'all 16 file pages mapped after the read fault');
  const pidfd = shim.pidfdOpen(s.pid);
  t.after(() => shim.close(pidfd));
  const ret = shim.processMadvise(pidfd, [iov(m.addr, 16)], C.MADV_PAGEOUT, 0);
  assert.equal(ret, BigInt(16 * PAGE));
  const after = readPagemap(s.pid, m.addr, 16, PAGE);
  assert.deepEqual(after.map((e) => e.present), new Array(16).fill(false), 'present bit cleared on every page');
  const v = await s.verify(m.id);
  assert.deepEqual([v.checked, v.badCount], [16, 0]);
  await s.exit();
});

test('MADV_COLD returns the byte count', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 8);
  await s.touch(m.id, 'write');
  const pidfd = shim.pidfdOpen(s.pid);
  t.after(() => shim.close(pidfd));
  assert.equal(shim.processMadvise(pidfd, [iov(m.addr, 8)], C.MADV_COLD, 0), BigInt(8 * PAGE));
  assert.equal(shim.processMadvise(pidfd, [iov(m.addr, 3), iov(m.addr + BigInt(4 * PAGE), 2)], C.MADV_COLD, 0), BigInt(5 * PAGE));
  assert.equal((await s.verify()).badCount, 0);
  await s.exit();
});

test('process_madvise takes the vector pointer and vlen as the kernel does: NULL, wild, kernel, counts past 32 bits', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 4);
  await s.touch(m.id, 'write');
  const pidfd = shim.pidfdOpen(s.pid);
  t.after(() => shim.close(pidfd));
  const KERNEL = 0xffff800000000000n;
  /** The return value, or the errno name. */
  const cold = (vec: Parameters<typeof shim.processMadvise>[1], vlen?: bigint, flags = 0, fd = pidfd) => {
    try {
      return String(shim.processMadvise(fd, vec, C.MADV_COLD, flags, vlen));
    } catch (e) {
      return (e as { code: string }).code;
    }
  };
  assert.equal(cold(null), '0');
  assert.equal(cold(0x10n), '0', 'vlen 0: the pointer is never read');
  assert.equal(cold(null, 1n), 'EFAULT');
  assert.equal(cold(KERNEL, 1n), 'EFAULT');
  assert.equal(cold(null, 1025n), 'EINVAL', 'UIO_MAXIOV');
  assert.equal(cold(null, 1n << 32n), '0', 'vlen is cut to 32 bits');
  assert.equal(cold([iov(m.addr, 1)], (1n << 32n) + 1n), String(PAGE), 'vlen 2^32+1 is one iovec');
  assert.equal(cold([{ addr: m.addr, len: 1n << 63n }]), 'EINVAL', 'a negative ssize_t length');
  assert.equal(cold([{ addr: KERNEL, len: BigInt(PAGE) }]), 'EFAULT');
  assert.equal(cold([iov(m.addr, 1), { addr: KERNEL, len: BigInt(PAGE) }]), 'EFAULT', 'checked before any advice');
  assert.equal(cold(null, 1n, 2), 'EINVAL', 'flags before the vector');
  assert.equal(cold(null, 1n, 0, -1), 'EFAULT', 'the vector before the pidfd');
  assert.equal(cold(null, undefined, 0, -1), 'EBADF');
  assert.throws(() => shim.processMadvise(pidfd, 'x' as never, C.MADV_COLD, 0), /vec must be an array/);
  assert.throws(() => shim.processMadvise(pidfd, null, C.MADV_COLD, 0, 1 as never), /vlen\) must be a bigint/);
  assert.equal((await s.verify()).badCount, 0);
  await s.exit();
});

test('process_madvise errno: EBADF, EINVAL, ENOMEM, ESRCH', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 8);
  await s.touch(m.id, 'write');
  const pidfd = shim.pidfdOpen(s.pid);
  t.after(() => shim.close(pidfd));
  const closed = shim.pidfdOpen(s.pid);
  shim.close(closed);
  assert.equal(errnoOf(() => shim.processMadvise(closed, [iov(m.addr, 1)], C.MADV_COLD, 0)), 'EBADF', 'closed fd');
  assert.equal(errnoOf(() => shim.processMadvise(pidfd, [iov(m.addr, 1)], C.MADV_COLD, 2)), 'EINVAL', 'flags=2');
  assert.equal(errnoOf(() => shim.processMadvise(pidfd, [iov(m.addr, 1)], C.MADV_DONTNEED, 0)), 'EINVAL', 'MADV_DONTNEED on a live remote process');
  assert.equal(errnoOf(() => shim.processMadvise(pidfd, [{ addr: m.addr + 1n, len: BigInt(PAGE) }], C.MADV_COLD, 0)), 'EINVAL', 'unaligned address');

  // A hole at page 4: alone it is ENOMEM; as the second iovec the call reports the first iovec's bytes.
  await s.unmap(m.id, { first: 4, count: 1 });
  assert.equal(errnoOf(() => shim.processMadvise(pidfd, [iov(m.addr, 8)], C.MADV_COLD, 0)), 'ENOMEM', 'single iovec over a hole');
  assert.equal(shim.processMadvise(pidfd, [iov(m.addr, 2), iov(m.addr, 8)], C.MADV_COLD, 0), BigInt(2 * PAGE), 'partial count');

  // Reaped target: the pidfd outlives the process.
  await s.exit();
  assert.equal(errnoOf(() => shim.processMadvise(pidfd, [iov(m.addr, 1)], C.MADV_COLD, 0)), 'ESRCH', 'reaped target');
});

/** Copies the helper, shim and subject where uid nobody can read them. */
function nobodyKit(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'reclaim-nobody-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kit = { helper: join(dir, 'as-user.mjs'), shim: join(dir, 'shim.node'), subject: join(dir, 'subject') };
  copyFileSync(fileURLToPath(new URL('../helpers/as-user.js', import.meta.url)), kit.helper);
  copyFileSync(defaultShimPath, kit.shim);
  copyFileSync(defaultSubjectPath, kit.subject);
  chmodSync(kit.subject, 0o755);
  return kit;
}

function runAs(uid: number, kit: ReturnType<typeof nobodyKit>, targetPid: number, advice: number): Promise<{ ok: boolean; code?: string; uid: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [kit.helper, kit.shim, 'pidfd_madvise', String(targetPid), String(advice)], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`helper as uid ${uid} exited ${code}: ${err}`))));
  });
}

test('process_madvise permissions: EACCES against root, EPERM against the same uid', async (t) => {
  if (process.getuid!() !== 0) return t.skip('needs root to spawn processes as uid 65534');
  const kit = nobodyKit(t);
  const rootSubject = await spawnSubject(t);
  const r1 = await runAs(NOBODY, kit, rootSubject.pid, C.MADV_COLD);
  assert.equal(r1.uid, NOBODY);
  assert.equal(r1.code, 'EACCES', 'uid 65534 -> root process fails ptrace READ_FSCREDS in mm_access');
  // Same uid and dumpable: mm_access passes, then CAP_SYS_NICE is missing.
  const peer = await spawnSubject(t, { uid: NOBODY, gid: NOBODY }, kit.subject);
  const r2 = await runAs(NOBODY, kit, peer.pid, C.MADV_COLD);
  assert.equal(r2.code, 'EPERM', 'uid 65534 -> uid 65534 process lacks CAP_SYS_NICE');
  await rootSubject.exit();
  await peer.exit();
});

test('process_mrelease: EINVAL on a live process, 0 or ESRCH after SIGKILL', async (t) => {
  const s = await spawnSubject(t);
  const m = await s.map('anon-private', 256);
  await s.touch(m.id, 'write');
  const pidfd = shim.pidfdOpen(s.pid);
  t.after(() => shim.close(pidfd));
  assert.equal(errnoOf(() => shim.processMrelease(pidfd, 0)), 'EINVAL', 'live process');
  assert.equal(errnoOf(() => shim.processMrelease(pidfd, 1)), 'EINVAL', 'flags=1');
  assert.equal(errnoOf(() => shim.processMrelease(-1, 0)), 'EBADF', 'fd -1');
  const exited = new Promise((r) => s.child!.once('exit', (_c, sig) => r(sig)));
  shim.pidfdSendSignal(pidfd, 9);
  const after = errnoOf(() => shim.processMrelease(pidfd, 0));
  assert.ok(after === 'ok' || after === 'ESRCH', `after SIGKILL: expected 0 or ESRCH, got ${after}`);
  assert.equal(await exited, 'SIGKILL');
  assert.equal(errnoOf(() => shim.processMrelease(pidfd, 0)), 'ESRCH', 'reaped');
});

test('poll on a pidfd: readable once the process has exited, 0 when the timeout passes first', async () => {
  const child = spawn('sleep', ['0.2']);
  const fd = shim.pidfdOpen(child.pid!);
  try {
    assert.equal(shim.poll(fd, shim.constants.POLLIN, 0), 0, 'still running');
    const t0 = Date.now();
    assert.equal(shim.poll(fd, shim.constants.POLLIN, 5000) & shim.constants.POLLIN, shim.constants.POLLIN);
    assert.ok(Date.now() - t0 >= 100, 'it waited for the exit');
  } finally {
    shim.close(fd);
  }
  const self = shim.pidfdOpen(process.pid);
  assert.equal(shim.poll(self, shim.constants.POLLIN, 20), 0);
  shim.close(self);
  // a negative fd is ignored by poll(2): nothing to report
  assert.equal(shim.poll(-1, shim.constants.POLLIN, 0), 0);
});
