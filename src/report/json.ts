// The JSON results document (results.json and --format json).
import type { Result } from '../suite/types.js';

export interface RunReport {
  kernel: { release?: string; version?: string; image?: string; cacheKey?: string; patches?: string };
  features: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  results: Result[];
  summary: { pass: number; fail: number; skip: number; error: number };
  timings: { bootMs: number; suiteMs: number };
  interrupted?: string;
}

export function summarize(results: readonly Result[]): RunReport['summary'] {
  const s = { pass: 0, fail: 0, skip: 0, error: 0 };
  for (const r of results) s[r.status]++;
  return s;
}
