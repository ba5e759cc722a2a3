// Numbers the host, the agent and the C side share. native/uapi.h is the table: the mapping kinds'
// numbering is read from it, and a unit test holds ABI below to it and to the kernel's values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import type { MapKind } from './subject.js';

/** MADV_* and flag values of the guest ABI (include/uapi/asm-generic/mman-common.h; PMADV_FLAG_RANGE: the port, spec A2). */
export const ABI = { MADV_WILLNEED: 3, MADV_DONTNEED: 4, MADV_FREE: 8, MADV_COLD: 20, MADV_PAGEOUT: 21, PMADV_FLAG_RANGE: 1, SIGKILL: 9 } as const;

/** A file of native/, as text (on the host: reproducers are written there). */
export const nativeSource = (file: string): string => readFileSync(join(packageRoot, 'native', file), 'utf8');

let kinds: MapKind[] | undefined;
/** The subject's mapping kinds in their numbering: native/uapi.h's enum map_kind, ANON_PRIVATE as 'anon-private'. */
export function mapKinds(): MapKind[] {
  const body = /enum map_kind \{([^}]*)\}/.exec(nativeSource('uapi.h'))?.[1];
  if (!body) throw new Error('native/uapi.h: no enum map_kind');
  return (kinds ??= body.split(',').map((k) => k.trim().toLowerCase().replace(/_/g, '-') as MapKind));
}
