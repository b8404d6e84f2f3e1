import type { ChannelCredentials } from "@grpc/grpc-js";
import { createClient, type ServiceClient } from "@taj/common";
import { ShardService } from "@taj/proto";

export type ShardClient = ServiceClient<typeof ShardService.method>;

/** One channel per replica address, kept across searches (grpc-js reconnects by itself). */
export class ShardClients {
  readonly #clients = new Map<string, ShardClient>();

  /** credentials: the coordinator's own certificate (shards admit only coordinators and admins). */
  constructor(private readonly credentials: ChannelCredentials) {}

  get(address: string): ShardClient {
    let client = this.#clients.get(address);
    if (!client) {
      client = createClient(ShardService, address, this.credentials);
      this.#clients.set(address, client);
    }
    return client;
  }

  /** Drops channels to addresses no longer in the cluster, so they do not pile up. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, client] of this.#clients) {
      if (!addresses.has(address)) {
        client.close();
        this.#clients.delete(address);
      }
    }
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
