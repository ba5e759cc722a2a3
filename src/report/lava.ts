// LAVA test cases: the names and results the on-target runner signals and `lava --run` reads back.
import type { Result } from '../suite/types.js';

/** A LAVA test case name: letters, digits, '.', '_' and '-' (no space, '>' or '='). */
export const lavaName = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');

/** LAVA's results: an ERROR (the harness, not the kernel) is 'unknown', never a pass. */
export const lavaResult: Record<Result['status'], string> = { pass: 'pass', fail: 'fail', skip: 'skip', error: 'unknown' };

/** The signal line for /dev/kmsg: <0> so no console loglevel hides it; one write each. */
export const lavaSignal = (r: Result) => `<0><LAVA_SIGNAL_TESTCASE TEST_CASE_ID=${lavaName(r.id)} RESULT=${lavaResult[r.status]}>\n`;
