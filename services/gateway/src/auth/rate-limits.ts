import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";

/** Burst points refill over this window: a client may go above its rate briefly, not for long. */
const BURST_WINDOW_S = 10;

/**
 * A per-key rate: `perSecond` calls each second, plus `burst` extra calls per 10 s window taken
 * only once a second's allowance is spent. In memory, per gateway: with N gateways a caller may
 * get N times the rate, which bounds floods without a shared store on the request path.
 */
export class RateLimits {
  readonly #rate: RateLimiterMemory;
  readonly #burst: RateLimiterMemory | undefined;
  readonly #what: string;

  constructor(perSecond: number, burst: number, what: string) {
    // The limiter counts whole points per whole-second window: 0.5/s is 1 point per 2 s.
    const [points, duration] = perSecond >= 1 ? [Math.round(perSecond), 1] : [1, Math.round(1 / perSecond)];
    this.#rate = new RateLimiterMemory({ keyPrefix: `${what}-rate`, points, duration });
    this.#burst = burst > 0 ? new RateLimiterMemory({ keyPrefix: `${what}-burst`, points: burst, duration: BURST_WINDOW_S }) : undefined;
    this.#what = what;
  }

  /** Takes one call's allowance for `key`, or throws RATE_LIMITED with the time until the next. */
  async take(key: string): Promise<void> {
    const waitMs = await this.#consume(key);
    if (waitMs > 0) throw new AppError(ErrorCode.RATE_LIMITED, `too many calls ${this.#what}; retry later`, { retryAfterMs: waitMs });
  }

  /** Throws RATE_LIMITED, without taking anything, when `key` has no allowance left right now. */
  async check(key: string): Promise<void> {
    const rate = await this.#rate.get(key);
    if (rate === null || rate.remainingPoints > 0) return;
    const burst = this.#burst ? await this.#burst.get(key) : null;
    if (this.#burst && (burst === null || burst.remainingPoints > 0)) return;
    throw new AppError(ErrorCode.RATE_LIMITED, `too many calls ${this.#what}; retry later`, { retryAfterMs: Math.max(1, rate.msBeforeNext) });
  }

  /** 0 when allowed, else milliseconds until the next call may pass. */
  async #consume(key: string): Promise<number> {
    let refused: RateLimiterRes;
    try {
      await this.#rate.consume(key);
      return 0;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      refused = err;
    }
    if (this.#burst) {
      try {
        await this.#burst.consume(key);
        return 0;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
      }
    }
    // The second's allowance comes back first; the burst pool refills later.
    return Math.max(1, refused.msBeforeNext);
  }
}
