import { createClient } from "@taj/common";
import { ShardService } from "@taj/proto";

const newShardClient = (address: string) => createClient(ShardService, address);
export type ShardClient = ReturnType<typeof newShardClient>;

/** One channel per replica address, kept across searches (grpc-js reconnects by itself). */
export class ShardClients {
  readonly #clients = new Map<string, ShardClient>();

  get(address: string): ShardClient {
    let client = this.#clients.get(address);
    if (!client) {
      client = newShardClient(address);
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
