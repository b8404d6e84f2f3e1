import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";

export interface AdmissionLimits {
  /** Extractions running at once in this pod; CPU-bound, so more than its cores only slows each. */
  maxInFlight: number;
  /** Extractions waiting for a slot; beyond that a call is refused OVERLOADED at once. */
  maxQueued: number;
}

interface Waiter {
  start(): void;
}

/**
 * This pod's own limit on concurrent extractions. The gateway limits what it sends per address it
 * knows, but behind one Service name it cannot tell pods apart (round_robin spreads calls, not
 * their cost): without a limit here, a pod that gets more than its share queues without bound in
 * onnxruntime and every call on it slows down together.
 */
export class Admission {
  #inFlight = 0;
  readonly #waiters: Waiter[] = [];
  #meanMs = 50;

  constructor(private readonly limits: AdmissionLimits) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#waiters.length;
  }

  /** Runs `work` once a slot is free, before `deadline` (ms since epoch) and unless `signal` aborts. */
  async run<T>(work: () => Promise<T>, deadline: number, signal: AbortSignal): Promise<T> {
    await this.#acquire(deadline, signal);
    const started = performance.now();
    try {
      return await work();
    } finally {
      // A moving mean of the extraction time, for the retry advice of a refusal.
      this.#meanMs += (performance.now() - started - this.#meanMs) / 16;
      this.#release();
    }
  }

  #acquire(deadline: number, signal: AbortSignal): Promise<void> {
    if (this.#inFlight < this.limits.maxInFlight) {
      this.#inFlight++;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.limits.maxQueued) {
      const ahead = this.#inFlight + this.#waiters.length;
      const retryAfterMs = Math.round(Math.min(10_000, Math.max(10, (this.#meanMs * ahead) / this.limits.maxInFlight)));
      return Promise.reject(new AppError(ErrorCode.OVERLOADED, "this extractor is busy; retry later", { retryAfterMs }));
    }
    return new Promise<void>((resolve, reject) => {
      const leave = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        start: () => {
          leave();
          this.#inFlight++;
          resolve();
        },
      };
      const expire = (why: string) => {
        leave();
        reject(new AppError(ErrorCode.DEADLINE_EXCEEDED, why));
      };
      const onAbort = () => expire("the call was cancelled while waiting for extraction");
      const timer = Number.isFinite(deadline)
        ? setTimeout(() => expire("the deadline expired while waiting for extraction"), Math.max(0, deadline - Date.now()))
        : undefined;
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #release(): void {
    this.#inFlight--;
    this.#waiters[0]?.start();
  }
}
