import type { ChannelCredentials } from "@grpc/grpc-js";
import { AppError, createClient, ERROR_DETAIL_KEY, type CallOptions } from "@taj/common";
import { CoordinatorService, ErrorCode, ExtractorService } from "@taj/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CoordinatedSearchRequestSchema, ExtractRequestSchema } from "@taj/proto";

const newExtractor = (credentials: ChannelCredentials) => (address: string) => createClient(ExtractorService, address, credentials);
const newCoordinator = (credentials: ChannelCredentials) => (address: string) => createClient(CoordinatorService, address, credentials);

/**
 * True when the peer could not be reached at all (no TAJ error detail came back), as opposed to
 * a peer that answered UNAVAILABLE on purpose (e.g. "partitions could not be searched"), which
 * another peer would only repeat.
 */
export function isUnreachable(err: AppError): boolean {
  if (err.code !== ErrorCode.UNAVAILABLE) return false;
  const cause = err.cause as { metadata?: { get(key: string): unknown[] } } | undefined;
  return (cause?.metadata?.get(ERROR_DETAIL_KEY).length ?? 0) === 0;
}

export interface ExtractorLimits {
  /** Extractions in flight per extractor. */
  maxInFlight: number;
  /** Calls waiting for a free extractor, over the whole pool; beyond that a call is refused OVERLOADED. */
  maxQueued: number;
}

const UNBOUNDED: ExtractorLimits = { maxInFlight: Number.MAX_SAFE_INTEGER, maxQueued: 0 };

interface Extractor {
  client: ReturnType<ReturnType<typeof newExtractor>>;
  inFlight: number;
}

interface Waiter {
  /** Takes a free slot among the waiter's extractors and resumes it; false when none is free. */
  claim(): boolean;
}

/**
 * Spreads extractions over the site's own extractors, to the least busy one; one that is
 * unavailable is skipped for the next. Extractors of the other site are a fallback only, used
 * when no local one answers: during a cut between sites a remote call would hang until the
 * deadline. Back-pressure: each extractor takes at most `maxInFlight` calls at once (they are
 * CPU-bound: more would only slow each one down), at most `maxQueued` calls wait for a slot, and
 * the next is refused OVERLOADED at once with a retry estimate, rather than queueing without bound
 * until deadlines expire.
 */
export class ExtractorPool {
  readonly #local: Extractor[];
  readonly #remote: Extractor[];
  readonly #limits: ExtractorLimits;
  readonly #waiters: Waiter[] = [];
  #next = 0;
  /** Moving mean of an extraction's duration, for the retry advice. */
  #meanMs = 100;

  /** credentials: the gateway's own certificate (extractors admit only gateways and admins). */
  constructor(
    credentials: ChannelCredentials, addresses: readonly string[], remoteAddresses: readonly string[] = [],
    limits: ExtractorLimits = UNBOUNDED,
  ) {
    const client = newExtractor(credentials);
    const extractor = (address: string): Extractor => ({ client: client(address), inFlight: 0 });
    this.#local = addresses.map(extractor);
    this.#remote = remoteAddresses.map(extractor);
    this.#limits = limits;
  }

  /** Calls waiting for a slot now (for tests and metrics). */
  get queued(): number {
    return this.#waiters.length;
  }

  async extract(request: MessageInitShape<typeof ExtractRequestSchema>, options: CallOptions) {
    let last: AppError | undefined;
    for (const group of [this.#local, this.#remote]) {
      const untried = new Set(group);
      while (untried.size > 0) {
        const extractor = await this.#acquire([...untried], options);
        untried.delete(extractor);
        const started = performance.now();
        try {
          return await extractor.client.extract(request, options);
        } catch (err) {
          last = AppError.from(err);
          if (last.code !== ErrorCode.UNAVAILABLE) throw last;
        } finally {
          this.#meanMs = 0.8 * this.#meanMs + 0.2 * (performance.now() - started);
          this.#release(extractor);
        }
      }
    }
    throw last ?? new AppError(ErrorCode.UNAVAILABLE, "no extractor is available");
  }

  /** The least busy of `candidates` with a free slot (ties taken in turn), counted as in flight. */
  #take(candidates: readonly Extractor[]): Extractor | undefined {
    const start = this.#next++;
    let best: Extractor | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const e = candidates[(start + i) % candidates.length]!;
      if (e.inFlight < this.#limits.maxInFlight && (best === undefined || e.inFlight < best.inFlight)) best = e;
    }
    if (best) best.inFlight++;
    return best;
  }

  #acquire(candidates: readonly Extractor[], options: CallOptions): Promise<Extractor> {
    const free = this.#take(candidates);
    if (free) return Promise.resolve(free);
    if (this.#waiters.length >= this.#limits.maxQueued) return Promise.reject(this.#overloaded(candidates.length));
    return new Promise<Extractor>((resolve, reject) => {
      const deadline = Math.min(options.deadline ?? Infinity, options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs);
      const leave = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        claim: () => {
          const e = this.#take(candidates);
          if (!e) return false;
          leave();
          resolve(e);
          return true;
        },
      };
      const onAbort = () => {
        leave();
        reject(new AppError(ErrorCode.DEADLINE_EXCEEDED, "the call was cancelled while waiting for an extractor"));
      };
      const timer = Number.isFinite(deadline)
        ? setTimeout(() => {
            leave();
            reject(new AppError(ErrorCode.DEADLINE_EXCEEDED, "the deadline expired while waiting for an extractor"));
          }, Math.max(0, deadline - Date.now()))
        : undefined;
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Hands the freed slot to the first waiter that can use it (waiters may wait for different extractors). */
  #release(extractor: Extractor): void {
    extractor.inFlight--;
    for (const waiter of [...this.#waiters]) {
      if (waiter.claim()) return;
    }
  }

  #overloaded(extractors: number): AppError {
    // About when the work ahead (in flight + queued) will have drained.
    const capacity = Math.max(1, extractors * Math.min(this.#limits.maxInFlight, 1_000));
    const retryAfterMs = Math.round(Math.min(10_000, Math.max(10, this.#meanMs * (1 + this.#waiters.length / capacity))));
    return new AppError(ErrorCode.OVERLOADED, "every extractor is busy; retry later", { retryAfterMs });
  }

  close(): void {
    for (const e of [...this.#local, ...this.#remote]) e.client.close();
  }
}

/** Coordinators in order of preference (local site first); the next is used only if one is unreachable. */
export class Coordinators {
  readonly #clients: ReturnType<ReturnType<typeof newCoordinator>>[];

  constructor(credentials: ChannelCredentials, addresses: readonly string[]) {
    this.#clients = addresses.map(newCoordinator(credentials));
  }

  search(request: MessageInitShape<typeof CoordinatedSearchRequestSchema>, options: CallOptions) {
    return this.#first((c) => c.coordinatedSearch(request, options));
  }

  clusterStatus(options: CallOptions) {
    return this.#first((c) => c.clusterStatus({}, options));
  }

  async #first<T>(call: (client: ReturnType<ReturnType<typeof newCoordinator>>) => Promise<T>): Promise<T> {
    let last: AppError | undefined;
    for (const client of this.#clients) {
      try {
        return await call(client);
      } catch (err) {
        last = AppError.from(err);
        if (!isUnreachable(last)) throw last;
      }
    }
    throw last ?? new AppError(ErrorCode.UNAVAILABLE, "no coordinator is available");
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }
}
