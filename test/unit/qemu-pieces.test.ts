// Host pieces of the boot path that need no QEMU: crash detection, cpio, probe output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accelOf, exitCause, findCrash, qemuArgs } from '../../src/target/qemu.js';
import { suiteVersions } from '../../src/builds/guest/image.js';
import { cpioGz } from '../../src/builds/guest/cpio.js';
import { parseProbeOutput } from '../../src/target/smoke.js';

test('findCrash picks the first crash report and keeps its trace', () => {
  const text = [
    '[    1.0] Run /init as init process',
    '[    2.0] sysrq: Trigger a crash',
    '[    2.0] Kernel panic - not syncing: sysrq triggered crash',
    '[    2.0] CPU: 0 PID: 1 Comm: init Not tainted 6.12.117 #1',
    '[    2.0] Call trace:',
  ].join('\n');
  const c = findCrash(text);
  assert.equal(c?.kind, 'panic');
  assert.match(c!.excerpt, /sysrq: Trigger a crash\n.*Kernel panic.*\n.*CPU: 0 PID: 1[^]*Call trace:/);
  assert.equal(findCrash('[ 3.1] BUG: KASAN: slab-out-of-bounds in foo+0x1c/0x40')?.kind, 'kasan');
  assert.equal(findCrash('[ 22.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [init:1]')?.kind, 'soft lockup');
  assert.equal(findCrash('[ 1.0] Internal error: Oops: 0000000096000004 [#1] SMP')?.kind, 'oops');
  assert.equal(findCrash('[ 1.0] WARNING: CPU: 1 PID: 42 at mm/vmscan.c:123 shrink_folio_list+0x1/0x2')?.kind, 'warning');
  assert.equal(findCrash('[ 1.0] ok 1 - BUG-free line\n# probe done'), undefined);
});

test('qemu arguments: TCG virt machine, no NIC, no reboot, console on ttyAMA0', () => {
  const a = qemuArgs({ kernel: 'K', initrd: 'I', consoleLog: '/dev/null', timeoutMs: 1, append: 'quiet' });
  assert.deepEqual(a.slice(0, 4), ['-M', 'virt', '-cpu', 'cortex-a57']);
  assert.ok(a.includes('-no-reboot') && a.join(' ').includes('-nic none'));
  assert.equal(a[a.indexOf('-append') + 1], 'console=ttyAMA0 panic=-1 quiet');
});

test('qemu arguments for x86_64: microvm without ACPI, KVM or TCG as asked, ttyS0, reboot by triple fault', () => {
  const kvm = qemuArgs({ arch: 'x86_64', accel: 'kvm', kernel: 'K', initrd: 'I', consoleLog: '/dev/null', timeoutMs: 1, append: 'quiet' });
  assert.deepEqual(kvm.slice(0, 6), ['-M', 'microvm,acpi=off', '-accel', 'kvm', '-cpu', 'host']);
  assert.equal(kvm[kvm.indexOf('-append') + 1], 'console=ttyS0 panic=-1 reboot=t quiet');
  const tcg = qemuArgs({ arch: 'x86_64', accel: 'tcg', kernel: 'K', initrd: 'I', consoleLog: '/dev/null', timeoutMs: 1 });
  assert.deepEqual(tcg.slice(2, 6), ['-accel', 'tcg', '-cpu', 'max']);
  assert.equal(accelOf({ arch: 'arm64' }), 'tcg');
});

test('x86 oops and general protection faults are crashes', () => {
  assert.equal(findCrash('[ 1.0] Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP')?.kind, 'oops');
  assert.equal(findCrash('[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008')?.kind, 'bug');
});

test('suiteVersions picks the newest version Debian\'s suite offers, not one installed from elsewhere', () => {
  const policy = [
    'nodejs:',
    '  Installed: 20.20.2-1nodesource1+repack1',
    '  Candidate: 20.20.2-1nodesource1+repack1',
    '  Version table:',
    ' *** 20.20.2-1nodesource1+repack1 100',
    '        100 /var/lib/dpkg/status',
    '     18.20.4+dfsg-1~deb12u3 500',
    '        500 URL bookworm-security/main amd64 Packages',
    '     18.20.4+dfsg-1~deb12u2 500',
    '        500 URL bookworm/main amd64 Packages',
    'busybox-static:arm64:',
    '  Installed: (none)',
    '  Candidate: 1:1.35.0-4+deb12u1+b1',
    '  Version table:',
    '     1:1.35.0-4+deb12u1+b1 500',
    '        500 URL bookworm/main arm64 Packages',
    'libfoo:',
    '  Installed: (none)',
    '  Candidate: 2.0',
    '  Version table:',
    '     2.0 500',
    '        500 URL trixie/main amd64 Packages',
  ].join('\n');
  const v = suiteVersions(policy, 'bookworm');
  assert.equal(v.get('nodejs'), '18.20.4+dfsg-1~deb12u3');
  assert.equal(v.get('busybox-static:arm64'), '1:1.35.0-4+deb12u1+b1');
  assert.equal(v.has('libfoo'), false);
});

test('cpioGz writes a newc archive with root ownership, modes and device nodes', () => {
  const gz = cpioGz([
    { path: 'dev', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'init', type: 'file', data: '#!/bin/sh\n', mode: 0o755 },
    { path: 'bin', type: 'dir' },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
  ]);
  const raw = execFileSync('gzip', ['-dc'], { input: gz });
  const listing = execFileSync('cpio', ['-itv', '--quiet', '--numeric-uid-gid'], { input: raw, encoding: 'utf8' });
  const rows = listing.trim().split('\n').map((l) => /^(\S+)\s+\d+\s+(\d+)\s+(\d+)\s.*? 1970 (.*)$/.exec(l)!.slice(1));
  assert.deepEqual(rows, [
    ['drwxr-xr-x', '0', '0', 'dev'],
    ['crw-------', '0', '0', 'dev/console'],
    ['-rwxr-xr-x', '0', '0', 'init'],
    ['drwxr-xr-x', '0', '0', 'bin'],
    ['lrwxrwxrwx', '0', '0', 'bin/sh -> busybox'],
  ]);
});

test('probe output: ok, not ok and SKIP lines with reasons', () => {
  const c = parseProbeOutput('KTAP version 1\n1..3\nok 1 - a\nnot ok 2 - b # mode 0644\nok 3 - c # SKIP not present\n# probe done\n');
  assert.deepEqual(c, [
    { n: 1, name: 'a', ok: true, skip: false, reason: '' },
    { n: 2, name: 'b', ok: false, skip: false, reason: 'mode 0644' },
    { n: 3, name: 'c', ok: true, skip: true, reason: 'not present' },
  ]);
});

test('exitCause: the crash, QEMU\'s error, init\'s last word or the kernel\'s last lines, and the console path', () => {
  const log = '/out/console.log';
  const end = (console: string, stderr = '', exitCode = 0) => exitCause({ console, stderr, exitCode }, log);
  // a distro kernel without zram built in
  assert.equal(
    end('[    1.2] Run /init as init process\r\nreclaim-init: reclaim.swap=256: no /sys/block/zram0 (CONFIG_ZRAM?)\r\n[    1.3] reboot: Power down\r\n'),
    'reclaim-init: reclaim.swap=256: no /sys/block/zram0 (CONFIG_ZRAM?)\nconsole: /out/console.log',
  );
  // the agent died: its own last words come with init's
  const agent = end('reclaim-init: agent on /dev/vport0p1, uptime 1.9 s\nError: Cannot find module \'/opt/reclaim/agent.cjs\'\n    at Module._resolveFilename\nreclaim-init: agent exited with status 1\n');
  assert.match(agent, /^reclaim-init: agent on[^]*Error: Cannot find module[^]*agent exited with status 1\nconsole: \/out\/console.log$/);
  // QEMU refused to start: its stderr, not the empty console
  assert.equal(end('', 'qemu-system-aarch64: Initial ram disk is larger than the guest RAM\n', 1), 'qemu-system-aarch64: Initial ram disk is larger than the guest RAM\nconsole: /out/console.log');
  // QEMU warnings on a clean exit do not hide init's word
  assert.match(end('reclaim-init: cannot mount /dev/vda (ext4) on /mnt/scratch\n', 'qemu-system-aarch64: warning: something\n', 0), /^reclaim-init: cannot mount \/dev\/vda/);
  assert.match(end(''), /^the kernel printed nothing on the console \(ttyAMA0\)/);
  const lines = Array.from({ length: 30 }, (_, i) => `[ ${i}.0] line ${i}`).join('\n') + '\n[ 30.0] VFS: Unable to mount root fs on unknown-block(0,0)\n';
  const k = end(lines);
  assert.match(k, /^the kernel's last lines:\n\[ 19\.0\] line 19\n[^]*VFS: Unable to mount root fs[^]*\nconsole: \/out\/console.log$/);
  assert.doesNotMatch(k, /line 18\n/);
  const crash = exitCause({ console: 'x', stderr: '', exitCode: 0, crash: { kind: 'panic', excerpt: 'Kernel panic - not syncing: VFS' } }, log);
  assert.equal(crash, 'kernel panic:\nKernel panic - not syncing: VFS\nconsole: /out/console.log');
});
