import type { ChannelCredentials } from "@grpc/grpc-js";
import { COORDINATORS, createClient, EXTRACTORS, UpstreamPool, type CallOptions, type PoolLimits } from "@taj/common";
import { CoordinatorService, ExtractorService } from "@taj/proto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CoordinatedSearchRequestSchema, ExtractRequestSchema } from "@taj/proto";

/** EXTRACTOR_MAX_IN_FLIGHT per extractor, EXTRACTOR_MAX_QUEUED over the pool, UPSTREAM_COOLDOWN_MS (default 0: none). */
export type ExtractorLimits = PoolLimits & { cooldownMs?: number };

type ExtractorClient = ReturnType<typeof createClient<typeof ExtractorService.method>>;
type CoordinatorClient = ReturnType<typeof createClient<typeof CoordinatorService.method>>;

/**
 * The site's own extractors first, the other site's as a fallback only (common's UpstreamPool):
 * least busy first, at most `maxInFlight` extractions each (they are CPU-bound: more would only
 * slow each one down), at most `maxQueued` waiting, then OVERLOADED with a retry estimate. An
 * extractor that is unreachable or not ready is passed over (retry policy EXTRACTORS).
 */
export class ExtractorPool {
  readonly #pool: UpstreamPool<ExtractorClient>;
  readonly #hasLocal: boolean;

  /** credentials: the gateway's own certificate (extractors admit only gateways and admins). */
  constructor(
    credentials: ChannelCredentials, addresses: readonly string[], remoteAddresses: readonly string[] = [],
    limits?: ExtractorLimits,
  ) {
    const client = (address: string) => createClient(ExtractorService, address, credentials);
    this.#hasLocal = addresses.length > 0;
    this.#pool = new UpstreamPool([addresses.map(client), remoteAddresses.map(client)], {
      kind: EXTRACTORS, limits, name: "extractor", cooldownMs: limits?.cooldownMs,
    });
  }

  /** Calls waiting for a slot now (for tests and metrics). */
  get queued(): number {
    return this.#pool.queued;
  }

  /** Calls in flight now, summed over the local extractors, then over the remote ones (metrics). */
  get inFlightByGroup(): number[] {
    const sums = this.#pool.inFlight.map((group) => group.reduce((sum, n) => sum + n, 0));
    // The pool drops empty groups: without local extractors its first group is the remote one.
    return this.#hasLocal ? sums : [0, ...sums];
  }

  extract(request: MessageInitShape<typeof ExtractRequestSchema>, options: CallOptions) {
    return this.#pool.call((c) => c.extract(request, options), options);
  }

  close(): void {
    this.#pool.close();
  }
}

/**
 * Coordinators in order of preference (local site first), each a group of its own: the next is
 * used only if one is unreachable (retry policy COORDINATORS: they all see the same shards).
 */
export class Coordinators {
  readonly #pool: UpstreamPool<CoordinatorClient>;

  /** cooldownMs: how long one that could not be reached is tried after the others (0: keep the order). */
  constructor(credentials: ChannelCredentials, addresses: readonly string[], cooldownMs = 0) {
    this.#pool = new UpstreamPool(addresses.map((a) => [createClient(CoordinatorService, a, credentials)]), {
      kind: COORDINATORS, name: "coordinator", cooldownMs,
    });
  }

  search(request: MessageInitShape<typeof CoordinatedSearchRequestSchema>, options: CallOptions) {
    return this.#pool.call((c) => c.coordinatedSearch(request, options), options);
  }

  clusterStatus(options: CallOptions) {
    return this.#pool.call((c) => c.clusterStatus({}, options), options);
  }

  close(): void {
    this.#pool.close();
  }
}
