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

/**
 * Spreads extractions round-robin over the site's own extractors; one that is unavailable is
 * skipped for the next. Extractors of the other site are a fallback only, used when no local one
 * answers: during a cut between sites a remote call would hang until the deadline.
 */
export class ExtractorPool {
  readonly #local: ReturnType<ReturnType<typeof newExtractor>>[];
  readonly #remote: ReturnType<ReturnType<typeof newExtractor>>[];
  #next = 0;

  /** credentials: the gateway's own certificate (extractors admit only gateways and admins). */
  constructor(credentials: ChannelCredentials, addresses: readonly string[], remoteAddresses: readonly string[] = []) {
    this.#local = addresses.map(newExtractor(credentials));
    this.#remote = remoteAddresses.map(newExtractor(credentials));
  }

  async extract(request: MessageInitShape<typeof ExtractRequestSchema>, options: CallOptions) {
    const start = this.#next++;
    let last: AppError | undefined;
    for (const group of [this.#local, this.#remote]) {
      for (let i = 0; i < group.length; i++) {
        const client = group[(start + i) % group.length]!;
        try {
          return await client.extract(request, options);
        } catch (err) {
          last = AppError.from(err);
          if (last.code !== ErrorCode.UNAVAILABLE) throw last;
        }
      }
    }
    throw last ?? new AppError(ErrorCode.UNAVAILABLE, "no extractor is available");
  }

  close(): void {
    for (const c of [...this.#local, ...this.#remote]) c.close();
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
