// Newline-delimited JSON over a byte stream: one request, one reply, in order.
import type { Readable, Writable } from 'node:stream';

export class JsonLineChannel {
  private buf = '';
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
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
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
