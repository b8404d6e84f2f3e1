import type { JetStreamManager, StreamInfo } from "nats";
import type { Logger } from "./logger.ts";
import { isStreamNotFound } from "./jetstream-errors.ts";
import { streamDifferences, type StreamSpec } from "./stream-settings.ts";

export type StreamCheck =
  | { ok: true; info: StreamInfo }
  /** unreadable: the question could not be asked (NATS unreachable, no quorum): no verdict on the settings. */
  | { ok: false; problems: string[]; unreadable?: true };

/** Reads the stream's info and compares it with the spec; a missing stream is one problem. */
export async function checkStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamCheck> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(spec.name);
  } catch (err) {
    if (isStreamNotFound(err)) return { ok: false, problems: [`stream ${spec.name} does not exist (run \`tajctl init\`)`] };
    return { ok: false, problems: [`stream ${spec.name} cannot be read: ${err instanceof Error ? err.message : String(err)}`], unreadable: true };
  }
  const problems = streamDifferences(spec, info.config).map((p) => `stream ${spec.name}: ${p}`);
  return problems.length === 0 ? { ok: true, info } : { ok: false, problems };
}

export interface StreamWatchOptions {
  intervalMs: number;
  logger: Logger;
  /** Told each time the verdict flips (and once at the first check). */
  onChange?: (ok: boolean) => void;
}

/**
 * Verifies the streams a service relies on, at start and then every intervalMs, so a stream
 * created (or fixed) later by `tajctl init` makes the service ready without a restart, and one
 * changed under a running service makes it NOT_SERVING. Each distinct set of problems is logged
 * once, at error, naming the setting that differs. A check that cannot read the streams at all
 * (NATS unreachable, a leader election, a site cut off) keeps the last verdict: it says nothing
 * about the settings, and readiness must not flap with every NATS blip.
 */
export class StreamWatch {
  #ok = false;
  #problems: string[] = ["not checked yet"];
  #logged = "";
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #first = true;
  /** A check could not read the streams while verified: logged once per such spell. */
  #blip = false;
  readonly #waiters: Array<() => void> = [];

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly specs: StreamSpec[],
    private readonly options: StreamWatchOptions,
  ) {}

  /** Checks once now (awaited), then keeps checking in the background until stop(). */
  static async start(jsm: JetStreamManager, specs: StreamSpec[], options: StreamWatchOptions): Promise<StreamWatch> {
    const watch = new StreamWatch(jsm, specs, options);
    await watch.#check();
    watch.#schedule();
    return watch;
  }

  get ok(): boolean {
    return this.#ok;
  }

  get problems(): string[] {
    return this.#problems;
  }

  /** Resolves once every stream matched (at once if they do now). */
  ready(): Promise<void> {
    if (this.#ok) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#check().finally(() => this.#schedule());
    }, this.options.intervalMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const checks = await Promise.all(this.specs.map((s) => checkStream(this.jsm, s)));
    if (this.#stopped) return;
    const problems = checks.flatMap((c) => (c.ok ? [] : c.problems));
    if (this.#ok && checks.every((c) => c.ok || c.unreadable === true)) {
      if (problems.length > 0 && !this.#blip) this.options.logger.warn({ problems }, "streams cannot be read now; keeping the last verdict (verified)");
      this.#blip = problems.length > 0;
      return;
    }
    this.#blip = false;
    const ok = problems.length === 0;
    const signature = problems.join("\n");
    if (!ok && signature !== this.#logged) {
      this.options.logger.error(
        { problems, recheckMs: this.options.intervalMs },
        `NOT_SERVING: ${problems.join("; ")}; checking again every ${this.options.intervalMs} ms`,
      );
    }
    if (ok && (!this.#ok || this.#first)) this.options.logger.info({ streams: this.specs.map((s) => s.name) }, "streams verified");
    this.#logged = ok ? "" : signature;
    this.#problems = problems;
    const changed = ok !== this.#ok || this.#first;
    this.#ok = ok;
    this.#first = false;
    if (changed) this.options.onChange?.(ok);
    if (ok) for (const w of this.#waiters.splice(0)) w();
  }
}
