// Which patched interfaces a kernel should have: from its config (ours, beside its Image in the
// cache; /proc/config.gz or /boot/config-RELEASE on a target), or as the user says (--expect).
// An expected interface the target does not show is a FAIL, never a SKIP (runner.ts).
/** A patched interface, or an upstream one a scenario may need. */
export type Feature = 'proc-reclaim' | 'pmadv-range' | 'shrinkmem' | 'process-mrelease';

/** Kconfig option that builds each patched interface (spec A1-A3). */
export const FEATURE_CONFIG = {
  'proc-reclaim': 'CONFIG_PROCESS_RECLAIM',
  'pmadv-range': 'CONFIG_PROCESS_MADVISE_REAP',
  shrinkmem: 'CONFIG_SHRINKMEM',
} as const satisfies Partial<Record<Feature, string>>;

export type Patched = keyof typeof FEATURE_CONFIG;
export const PATCHED = Object.keys(FEATURE_CONFIG) as Patched[];

/** Each expected interface, with why it is expected ("CONFIG_SHRINKMEM=y in /proc/config.gz"). */
export type Expected = ReadonlyMap<Feature, string>;

/** The lines of a .config that name a patched interface's option: all a target needs to send. */
export function configLines(dotConfig: string): string[] {
  const names = new Set<string>(Object.values(FEATURE_CONFIG));
  return dotConfig.split('\n').filter((l) => names.has(l.split('=')[0]!));
}

/** The interfaces a config (text, from `source`) builds in. */
export function fromConfig(dotConfig: string, source: string): Map<Feature, string> {
  const on = new Set(configLines(dotConfig).filter((l) => /=y$/.test(l)).map((l) => l.slice(0, -2)));
  return new Map(PATCHED.filter((f) => on.has(FEATURE_CONFIG[f])).map((f) => [f, `${FEATURE_CONFIG[f]}=y in ${source}`]));
}

/** --expect proc-reclaim,pmadv-range,shrinkmem: an error names what is not an interface. */
export function parseExpect(list: string): Map<Feature, string> {
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.filter((n) => !(PATCHED as string[]).includes(n));
  if (bad.length || !names.length) throw new Error(`--expect ${list}: want a comma-separated list of ${PATCHED.join(', ')}${bad.length ? `; not an interface: ${bad.join(', ')}` : ''}`);
  return new Map(names.map((n) => [n as Feature, '--expect']));
}

/** Every source's expectations in one (the first reason for each interface stays). */
export function merge(...all: Array<Expected | undefined>): Map<Feature, string> {
  const out = new Map<Feature, string>();
  for (const m of all) for (const [f, why] of m ?? []) if (!out.has(f)) out.set(f, why);
  return out;
}
