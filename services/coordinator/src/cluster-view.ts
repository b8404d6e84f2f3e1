import { Etcd3, type Watcher } from "etcd3";
import { ETCD_ROOT, etcdCredentials, type Logger, type TlsFiles } from "@taj/common";
import { applyEvent, emptyTable, tableFromKeys, type ClusterTable, type TableEvent } from "./cluster-table.ts";

/**
 * Keeps the routing table in step with etcd: one full read, then a watch from the next revision.
 * If etcd becomes unreachable the last table stays in use (searches go on against the replicas
 * last known alive) and the etcd client keeps reconnecting; the watch resumes where it stopped.
 */
export class ClusterView {
  #table: ClusterTable = emptyTable();
  #loaded = false;
  #watcher: Watcher | undefined;
  #closed = false;
  readonly #client: Etcd3;
  readonly #logger: Logger;

  constructor(endpoints: string[], tls: TlsFiles, logger: Logger) {
    this.#client = new Etcd3({ hosts: endpoints, dialTimeout: 2_000, credentials: etcdCredentials(tls) });
    this.#logger = logger;
  }

  get table(): ClusterTable {
    return this.#table;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Resolves once the first full read succeeded; retries until then (or until closed). */
  async start(): Promise<void> {
    const prefix = `${ETCD_ROOT}/`;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const response = await this.#client.getAll().prefix(prefix).exec();
        const kvs = response.kvs.map((kv) => [kv.key.toString(), kv.value.toString()] as const);
        const { table, ignored } = tableFromKeys(kvs);
        if (ignored) this.#logger.warn({ ignored }, "ignored malformed cluster keys");
        this.#table = table;
        this.#loaded = true;
        const revision = BigInt(response.header.revision) + 1n;
        this.#watcher = await this.#client.watch().prefix(prefix).startRevision(revision.toString()).create();
        this.#watcher
          .on("put", (kv) => this.#apply({ type: "put", key: kv.key.toString(), value: kv.value.toString() }))
          .on("delete", (kv) => this.#apply({ type: "delete", key: kv.key.toString() }))
          .on("disconnected", (err) => this.#logger.warn({ err }, "etcd unreachable; keeping the last routing table"))
          .on("connected", () => this.#logger.info("etcd watch connected"))
          .on("error", (err) => this.#logger.error({ err }, "etcd watch error"));
        this.#logger.info(this.#summary(), "routing table loaded");
        return;
      } catch (err) {
        this.#logger.warn({ err, attempt }, "cannot read the cluster layout from etcd; retrying");
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  #apply(event: TableEvent): void {
    const { table, ignored } = applyEvent(this.#table, event);
    if (ignored) this.#logger.warn({ ignored }, "ignored malformed cluster key");
    this.#table = table;
    this.#logger.debug({ key: event.key, type: event.type, ...this.#summary() }, "routing table changed");
  }

  #summary() {
    return { partitionCount: this.#table.partitionCount, members: this.#table.members.size, assignments: this.#table.assignments.size };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.cancel().catch(() => undefined);
    this.#client.close();
  }
}
