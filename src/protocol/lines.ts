// Newline-delimited JSON over a byte stream: the framing every end of every channel uses, and a
// channel of one request, one reply, in order.
import type { Readable, Writable } from 'node:stream';

/** Chunks in, whole lines out (without their newline); a part line waits for the next chunk. */
export function lineReader(): (chunk: string) => string[] {
  let buf = '';
  return (chunk) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    return lines;
  };
}

export class JsonLineChannel {
  private readonly lines = lineReader();
  private waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | undefined;

  constructor(input: Readable, private readonly output: Writable, private readonly name: string) {
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.onData(chunk));
    input.on('close', () => this.fail(new Error(`${name}: channel closed`)));
    input.on('error', (e) => this.fail(e));
    output.on('error', (e) => this.fail(e));
  }

  /** Sends one line and resolves with the parsed reply line. */
  request(line: string): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.output.write(line + '\n');
    });
  }

  /** Resolves with the next line the peer sends unprompted (e.g. a greeting). */
  next(): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private onData(chunk: string): void {
    for (const line of this.lines(chunk)) {
      const w = this.waiting.shift();
      if (!w) continue;
      try {
        w.resolve(JSON.parse(line));
      } catch {
        w.reject(new Error(`${this.name}: unparsable reply: ${line.slice(0, 200)}`));
      }
    }
  }

  private fail(e: Error): void {
    this.closedError ??= e;
    for (const w of this.waiting.splice(0)) w.reject(this.closedError);
  }
}
