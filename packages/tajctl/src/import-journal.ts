import { createReadStream, existsSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Modality } from "@taj/proto";
import { modalityName } from "@taj/common";

/** What identifies an acknowledged enrolment in the journal: the modality and the id. */
export const journalKey = (modality: Modality, id: string) => `${modalityName(modality)}\t${id}`;

/**
 * The keys a journal holds: lines "<modality>\t<id>\t<log_sequence>". A line cut short by a crash
 * (no sequence, or no newline after it) is not counted, so its item is sent again.
 */
export async function readJournal(path: string): Promise<Set<string>> {
  const keys = new Set<string>();
  if (!existsSync(path)) return keys;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    const [modality, id, seq] = line.split("\t");
    if (modality && id && seq && /^\d+$/.test(seq)) keys.add(`${modality}\t${id}`);
  }
  return keys;
}

/**
 * Appends acknowledged enrolments and makes them durable in batches: every `batch` entries or
 * `intervalMs`, whichever first, the buffered lines are written and fsynced. An entry lost in a
 * crash before its batch was synced only costs that item a second, idempotent enrolment.
 */
export class Journal {
  readonly #file: FileHandle;
  readonly #batch: number;
  readonly #timer: NodeJS.Timeout;
  #buffer: string[] = [];
  #flushing: Promise<void> = Promise.resolve();

  private constructor(file: FileHandle, batch: number, intervalMs: number) {
    this.#file = file;
    this.#batch = batch;
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  static async open(path: string, options: { batch?: number; intervalMs?: number } = {}): Promise<Journal> {
    const file = await open(path, "a", 0o600);
    // A previous run killed mid-line left a torn line: start on a fresh one so ours stay whole.
    const { size } = await file.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      const probe = await open(path, "r");
      await probe.read(last, 0, 1, size - 1).finally(() => probe.close());
      if (last[0] !== 0x0a) await file.write("\n");
    }
    return new Journal(file, options.batch ?? 256, options.intervalMs ?? 1_000);
  }

  append(modality: Modality, id: string, logSequence: bigint): void {
    this.#buffer.push(`${journalKey(modality, id)}\t${logSequence}\n`);
    if (this.#buffer.length >= this.#batch) void this.flush();
  }

  /** Writes and fsyncs what is buffered; flushes run one after the other. */
  flush(): Promise<void> {
    const lines = this.#buffer.splice(0);
    if (lines.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      await this.#file.write(lines.join(""));
      await this.#file.sync();
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    await this.#file.close();
  }
}
