// Newline-delimited framing for the helper socket, shared by the server and the client: bytes in,
// complete UTF-8 lines out. A line longer than the bound, or one that is not valid UTF-8, is
// reported as a value so the caller can answer with a clear error.
const NEWLINE = 0x0a;

export type LineResult =
  | { kind: 'line'; text: string }
  | { kind: 'invalid-utf8'; bytes: number }
  | { kind: 'too-long'; limit: number };

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly maxLineBytes: number) {}

  /**
   * Feeds bytes; returns the complete lines they finish. After 'too-long' the splitter is spent:
   * the rest of the stream cannot be framed reliably, so the caller closes the connection.
   */
  push(chunk: Buffer): LineResult[] {
    const out: LineResult[] = [];
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) break;
      const part = chunk.subarray(start, newline);
      if (this.pendingBytes + part.length > this.maxLineBytes)
        return [...out, { kind: 'too-long', limit: this.maxLineBytes }];
      const line = this.pendingBytes === 0 ? part : Buffer.concat([...this.pending, part]);
      this.pending = [];
      this.pendingBytes = 0;
      out.push(this.decode(line));
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      if (this.pendingBytes + rest.length > this.maxLineBytes)
        return [...out, { kind: 'too-long', limit: this.maxLineBytes }];
      this.pending.push(Buffer.from(rest)); // copy: the caller may reuse its chunk
      this.pendingBytes += rest.length;
    }
    return out;
  }

  private decode(bytes: Buffer): LineResult {
    try {
      return { kind: 'line', text: this.decoder.decode(bytes) };
    } catch {
      return { kind: 'invalid-utf8', bytes: bytes.length };
    }
  }
}

export function encodeLine(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
