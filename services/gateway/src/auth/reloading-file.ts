import { readFileSync, statSync } from "node:fs";

/**
 * A file parsed once and again whenever it changes (mtime or size), checked at most once per
 * `checkEveryMs`, so a rotated CA bundle or JWKS takes effect without a restart. A file that
 * cannot be read or parsed after a change keeps the last good value (and says so once), rather
 * than locking every caller out in the middle of a rotation.
 */
export class ReloadingFile<T> {
  readonly #path: string;
  readonly #parse: (text: string) => T;
  readonly #checkEveryMs: number;
  readonly #onError: (err: unknown) => void;
  #value: T;
  #stamp: string;
  #checkedAt = 0;

  /** Reads and parses at once: a bad file at start stops the gateway (fail fast). */
  constructor(path: string, parse: (text: string) => T, options: { checkEveryMs?: number; onError?: (err: unknown) => void } = {}) {
    this.#path = path;
    this.#parse = parse;
    this.#checkEveryMs = options.checkEveryMs ?? 1_000;
    this.#onError = options.onError ?? (() => {});
    this.#stamp = this.#stampNow();
    this.#value = parse(readFileSync(path, "utf8"));
    this.#checkedAt = Date.now();
  }

  get(): T {
    const now = Date.now();
    if (now - this.#checkedAt < this.#checkEveryMs) return this.#value;
    this.#checkedAt = now;
    try {
      const stamp = this.#stampNow();
      if (stamp !== this.#stamp) {
        this.#value = this.#parse(readFileSync(this.#path, "utf8"));
        this.#stamp = stamp;
      }
    } catch (err) {
      this.#onError(err);
    }
    return this.#value;
  }

  #stampNow(): string {
    const s = statSync(this.#path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  }
}
