// What the suite needs of an agent, however it is reached (a QEMU guest, this machine, a board):
// requests, batches, the features it reported, and whether it is still there.
import type { AgentRequest, Args, BatchReply, Features, Op, Result } from './ops.js';

/** A kernel crash the target's console showed. */
export interface Crash {
  kind: string;
  excerpt: string;
}

/** The agent's answer to a failed operation, or a lost target. */
export class GuestError extends Error {
  constructor(readonly op: string, readonly code: string, readonly errno: number, message: string, readonly crash?: Crash) {
    super(`${op}: ${code}${message ? `: ${message}` : ''}`);
  }
}

export interface Channel {
  /** what the agent reported in its ready line */
  readonly features: Features;
  /** one agent operation; rejects with GuestError on failure, timeout or a lost target */
  request<K extends Op>(op: K, args: Args<K>, timeoutMs?: number): Promise<Result<K>>;
  /** several requests in one round trip, run in order: each its result or its GuestError */
  batch(reqs: readonly AgentRequest[]): Promise<Array<unknown | GuestError>>;
  readonly alive: boolean;
  readonly lostReason: GuestError | undefined;
}

/** A batch's replies, each its result or the GuestError it failed with. */
export function batchReplies(reqs: readonly AgentRequest[], results: readonly BatchReply[]): Array<unknown | GuestError> {
  return results.map((r, k) => (r.ok ? r.result : new GuestError(reqs[k]!.op, r.error!.code, r.error!.errno, r.error!.message)));
}
