import { ErrorCode } from "@taj/proto";
import { AppError } from "./errors.ts";
import type { CallOptions } from "./grpc-client.ts";
import { failureClass, shouldTryAnother, type UpstreamKind } from "./retry-policy.ts";
import { UpstreamHealth } from "./upstream-health.ts";

export interface PoolLimits {
  /** Calls in flight per upstream. */
  maxInFlight: number;
  /** Calls waiting for a free upstream, over the whole pool; beyond that a call is refused OVERLOADED. */
  maxQueued: number;
}

export const UNBOUNDED: PoolLimits = { maxInFlight: Number.MAX_SAFE_INTEGER, maxQueued: 0 };

export interface PoolOptions {
  /** Decides which failures move a call to the next upstream (retry-policy.ts). */
  kind: UpstreamKind;
  limits?: PoolLimits | undefined;
  /** For callers' messages: "extractor", "coordinator". */
  name: string;
  /**
   * How long an upstream that failed (unreachable, refused, timed out) is put last in its group,
   * and a group whose every upstream failed after the other groups, so the next calls do not each
   * pay for it again; 0 (default) keeps the order.
   */
  cooldownMs?: number | undefined;
}

interface Member<C> {
  client: C;
  inFlight: number;
  /** Its key in the pool's UpstreamHealth. */
  key: string;
}

interface Waiter {
  /** Takes a free slot among the waiter's upstreams and resumes it; false when none is free. */
  claim(): boolean;
}

/**
 * Upstreams of one kind in ordered preference groups (the local site's first, the other site's
 * as a fallback: during a cut between sites a remote call would hang until the deadline). A call
 * goes to the least busy upstream of the first group (ties taken in turn, so idle upstreams share
 * the calls round-robin); one that fails in a way the retry policy calls "try another" is skipped
 * for the next of its group, then the next group. Back-pressure: each upstream takes at most
 * `maxInFlight` calls at once, at most `maxQueued` calls wait for a slot (until their deadline), and
 * the next is refused OVERLOADED at once with a retry estimate, rather than queueing without bound.
 */
export class UpstreamPool<C extends { close(): void }> {
  readonly #groups: Member<C>[][];
  readonly #limits: PoolLimits;
  readonly #options: PoolOptions;
  readonly #waiters: Waiter[] = [];
  readonly #health: UpstreamHealth;
  #next = 0;
  /** Moving mean of a call's duration, for the retry advice. */
  #meanMs = 100;

  constructor(groups: readonly (readonly C[])[], options: PoolOptions) {
    this.#groups = groups.filter((g) => g.length > 0).map((g, i) => g.map((client, j) => ({ client, inFlight: 0, key: `${i}/${j}` })));
    this.#health = new UpstreamHealth(options.cooldownMs ?? 0);
    this.#limits = options.limits ?? UNBOUNDED;
    this.#options = options;
  }

  /** Calls waiting for a slot now (for tests and metrics). */
  get queued(): number {
    return this.#waiters.length;
  }

  /** Calls in flight at each upstream, by group (for tests and metrics). */
  get inFlight(): number[][] {
    return this.#groups.map((g) => g.map((m) => m.inFlight));
  }

  async call<T>(attempt: (client: C) => Promise<T>, options: CallOptions): Promise<T> {
    let last: AppError | undefined;
    for (const group of this.#ordered()) {
      const untried = new Set(group);
      while (untried.size > 0) {
        const member = await this.#acquire([...untried], options);
        untried.delete(member);
        const started = performance.now();
        try {
          const result = await attempt(member.client);
          this.#health.ok(member.key);
          return result;
        } catch (err) {
          last = AppError.from(err);
          if (this.#isDown(last)) this.#health.failed(member.key);
          if (!shouldTryAnother(last, this.#options.kind)) throw last;
        } finally {
          this.#meanMs = 0.8 * this.#meanMs + 0.2 * (performance.now() - started);
          this.#release(member);
        }
      }
    }
    throw last ?? new AppError(ErrorCode.UNAVAILABLE, `no ${this.#options.name} is available`);
  }

  /**
   * Whether a failure says this upstream, not the call, is in trouble: not reached, silent until
   * the deadline, or refusing in a way that is its own (a coordinator's "partitions could not be
   * searched" is the cluster's state, which every coordinator would report: not held against it).
   */
  #isDown(err: AppError): boolean {
    const failure = failureClass(err);
    return failure === "unreachable" || failure === "timeout" || (failure === "refused" && this.#options.kind.refusalIsLocal);
  }

  /** The groups in preference order, except that a group whose every upstream just failed goes after the others. */
  #ordered(): Member<C>[][] {
    const down = (g: Member<C>[]) => g.every((m) => this.#health.isCooling(m.key));
    return [...this.#groups.filter((g) => !down(g)), ...this.#groups.filter(down)];
  }

  /**
   * The least busy of `candidates` with a free slot (ties taken in turn), counted as in flight;
   * one that just failed only when no other of them has a free slot.
   */
  #take(candidates: readonly Member<C>[]): Member<C> | undefined {
    const start = this.#next++;
    let best: Member<C> | undefined;
    let bestCooling = true;
    for (let i = 0; i < candidates.length; i++) {
      const m = candidates[(start + i) % candidates.length]!;
      if (m.inFlight >= this.#limits.maxInFlight) continue;
      const cooling = this.#health.isCooling(m.key);
      if (best === undefined || (bestCooling && !cooling) || (bestCooling === cooling && m.inFlight < best.inFlight)) {
        best = m;
        bestCooling = cooling;
      }
    }
    if (best) best.inFlight++;
    return best;
  }

  #acquire(candidates: readonly Member<C>[], options: CallOptions): Promise<Member<C>> {
    const free = this.#take(candidates);
    if (free) return Promise.resolve(free);
    if (this.#waiters.length >= this.#limits.maxQueued) return Promise.reject(this.#overloaded(candidates.length));
    const name = this.#options.name;
    return new Promise<Member<C>>((resolve, reject) => {
      const deadline = Math.min(options.deadline ?? Infinity, options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs);
      const leave = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        claim: () => {
          const m = this.#take(candidates);
          if (!m) return false;
          leave();
          resolve(m);
          return true;
        },
      };
      const onAbort = () => {
        leave();
        reject(new AppError(ErrorCode.DEADLINE_EXCEEDED, `the call was cancelled while waiting for a free ${name}`));
      };
      const timer = Number.isFinite(deadline)
        ? setTimeout(() => {
            leave();
            reject(new AppError(ErrorCode.DEADLINE_EXCEEDED, `the deadline expired while waiting for a free ${name}`));
          }, Math.max(0, deadline - Date.now()))
        : undefined;
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Hands the freed slot to the first waiter that can use it (waiters may wait for different upstreams). */
  #release(member: Member<C>): void {
    member.inFlight--;
    for (const waiter of [...this.#waiters]) {
      if (waiter.claim()) return;
    }
  }

  #overloaded(upstreams: number): AppError {
    // About when the work ahead (in flight + queued) will have drained.
    const capacity = Math.max(1, upstreams * Math.min(this.#limits.maxInFlight, 1_000));
    const retryAfterMs = Math.round(Math.min(10_000, Math.max(10, this.#meanMs * (1 + this.#waiters.length / capacity))));
    return new AppError(ErrorCode.OVERLOADED, `every ${this.#options.name} is busy; retry later`, { retryAfterMs });
  }

  close(): void {
    for (const group of this.#groups) for (const m of group) m.client.close();
  }
}
