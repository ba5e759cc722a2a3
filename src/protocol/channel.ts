// What the suite needs of an agent, however it is reached (a QEMU guest, this machine, a board):
// requests, batches, the features it reported, and whether it is still there.

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
  readonly features: Record<string, unknown>;
  /** one agent operation; rejects with GuestError on failure, timeout or a lost target */
  request<T = Record<string, unknown>>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** several requests in one round trip, run in order: each its result or its GuestError */
  batch(reqs: Array<{ op: string } & Record<string, unknown>>): Promise<Array<unknown | GuestError>>;
  readonly alive: boolean;
  readonly lostReason: GuestError | undefined;
}

/** A batch's replies, each its result or the GuestError it failed with. */
export function batchReplies(reqs: ReadonlyArray<{ op: string }>, results: ReadonlyArray<{ ok: boolean; result?: unknown; error?: { code: string; errno: number; message: string } }>): Array<unknown | GuestError> {
  return results.map((r, k) => (r.ok ? r.result : new GuestError(reqs[k]!.op, r.error!.code, r.error!.errno, r.error!.message)));
}
