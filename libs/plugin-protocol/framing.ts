/**
 * Newline framing with a bound on memory: a peer that writes an endless line must not make the reader buffer it.
 * Splitting on the byte 0x0A is safe for UTF-8, where no multi-byte sequence contains it.
 */
export class LineSplitter {
  private chunks: Buffer[] = [];
  private size = 0;
  private skipped = 0;

  /**
   * @param maxBytes longest line kept; the rest of a longer line is counted and discarded.
   * @param onLine gets each line (without "\n") and how many bytes of it were discarded.
   * @param onOverflow called once per line, as soon as it exceeds maxBytes, before its end arrives.
   */
  constructor(
    public maxBytes: number,
    private readonly onLine: (line: Buffer, discardedBytes: number) => void,
    private readonly onOverflow?: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      this.append(chunk, start, nl === -1 ? chunk.length : nl);
      if (nl === -1) return;
      start = nl + 1;
      const line = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
      const discarded = this.skipped;
      this.chunks = [];
      this.size = 0;
      this.skipped = 0;
      this.onLine(line, discarded);
    }
  }

  /** What is left without a final newline (a log's last line), then forgets it. */
  flush(): void {
    if (this.size === 0 && this.skipped === 0) return;
    const line = Buffer.concat(this.chunks, this.size);
    const discarded = this.skipped;
    this.chunks = [];
    this.size = 0;
    this.skipped = 0;
    this.onLine(line, discarded);
  }

  private append(chunk: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length === 0) return;
    if (this.skipped > 0) {
      this.skipped += length;
      return;
    }
    const room = this.maxBytes - this.size;
    // Copy: a subarray would keep the whole (up to 64 KiB) chunk alive for a few bytes of it.
    if (length <= room) {
      this.chunks.push(Buffer.from(chunk.subarray(start, end)));
      this.size += length;
      return;
    }
    if (room > 0) {
      this.chunks.push(Buffer.from(chunk.subarray(start, start + room)));
      this.size += room;
    }
    this.skipped = length - Math.max(room, 0);
    this.onOverflow?.();
  }
}

/** A string for an error message: at most `max` characters of `text`, JSON-quoted so control characters show. */
export function quote(text: string, max = 100): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Coalesces the lines written in one turn of the event loop into one write. Under load many calls complete in the
 * same turn, and each write to a pipe is a system call that also wakes the process at the other end: measured on
 * a 2-core VM, those writes cost more than the JSON they carry (docs/performance.md).
 */
export class LineBatcher {
  private queued: string[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly write: (text: string, done?: () => void) => void) {}

  /** Characters queued and not yet handed to the stream. */
  get pendingLength(): number {
    return this.bytes;
  }

  push(line: string): void {
    this.queued.push(line);
    this.bytes += line.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands everything queued to the stream now; `done` runs once the stream has taken it. */
  flush(done?: () => void): void {
    this.scheduled = false;
    const text = this.queued.length === 1 ? this.queued[0] : this.queued.join('');
    this.queued = [];
    this.bytes = 0;
    if (text !== '' || done) this.write(text, done);
  }
}
