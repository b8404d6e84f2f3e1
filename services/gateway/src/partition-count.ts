import { Etcd3, type Watcher } from "etcd3";
import { AppError, PARTITION_COUNT_KEY, etcdCredentials, parsePartitionCount, type Logger, type TlsFiles } from "@taj/common";
import { ErrorCode } from "@taj/proto";

/**
 * The partition count decides every template's subject, so the gateway refuses writes until it
 * has read it, then follows changes by watching the key (and keeps the last value if etcd goes).
 */
export class PartitionCount {
  #value: number | undefined;
  #watcher: Watcher | undefined;
  #closed = false;
  readonly #client: Etcd3;

  constructor(endpoints: string[], tls: TlsFiles, private readonly logger: Logger) {
    this.#client = new Etcd3({ hosts: endpoints, dialTimeout: 2_000, credentials: etcdCredentials(tls) });
  }

  get(): number {
    if (this.#value === undefined) throw new AppError(ErrorCode.UNAVAILABLE, "the cluster layout is not loaded yet; retry");
    return this.#value;
  }

  get loaded(): boolean {
    return this.#value !== undefined;
  }

  async start(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        this.#watcher = await this.#client.watch().key(PARTITION_COUNT_KEY).create();
        this.#watcher
          .on("put", (kv) => this.#set(kv.value.toString()))
          .on("delete", () => this.#set(null))
          .on("disconnected", (err) => this.logger.warn({ err }, "etcd unreachable; keeping the last partition count"));
        this.#set(await this.#client.get(PARTITION_COUNT_KEY).string());
        return;
      } catch (err) {
        this.logger.warn({ err, attempt }, "cannot read the partition count from etcd; retrying");
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  #set(value: string | null): void {
    const count = parsePartitionCount(value);
    if (count === undefined) {
      this.logger.error({ value }, "ignoring an invalid partition count");
      return;
    }
    if (this.#value !== undefined && this.#value !== count) this.logger.warn({ from: this.#value, to: count }, "partition count changed");
    this.#value = count;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.cancel().catch(() => undefined);
    this.#client.close();
  }
}
