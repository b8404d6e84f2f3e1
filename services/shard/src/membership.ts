import type { Etcd3, Lease } from "etcd3";
import type { Logger, Member } from "@taj/common";

/**
 * This replica's live entry in etcd, bound to a lease so it disappears when the process dies.
 * If the lease is lost (etcd unreachable longer than the TTL) the replica keeps serving and
 * re-registers under a new lease once etcd answers again.
 */
export class Membership {
  private readonly etcd: Etcd3;
  private readonly key: string;
  private readonly ttl: number;
  private readonly logger: Logger;
  private lease: Lease | undefined;
  private value: string | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(etcd: Etcd3, key: string, ttlSeconds: number, logger: Logger) {
    this.etcd = etcd;
    this.key = key;
    this.ttl = ttlSeconds;
    this.logger = logger;
  }

  /** Registers or updates the entry. Never throws: failures are retried in the background. */
  publish(member: Member): Promise<void> {
    this.value = JSON.stringify(member);
    this.chain = this.chain.then(() => this.write());
    return this.chain;
  }

  private async write(): Promise<void> {
    if (this.closed || this.value === undefined) return;
    try {
      if (!this.lease) {
        const lease = this.etcd.lease(this.ttl, { autoKeepAlive: true });
        lease.on("lost", (err) => {
          if (this.lease !== lease) return;
          this.lease = undefined;
          this.logger.warn({ err: err.message }, "etcd lease lost; still serving, will re-register");
          this.scheduleRetry();
        });
        await lease.grant();
        this.lease = lease;
      }
      await this.lease.put(this.key).value(this.value);
      this.logger.info({ key: this.key, member: JSON.parse(this.value) as unknown }, "registered in etcd");
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "etcd registration failed; retrying");
      const lease = this.lease;
      this.lease = undefined;
      lease?.release();
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.chain = this.chain.then(() => this.write());
    }, 1_000);
  }

  /** Revokes the lease so coordinators stop routing here at once, before the replica drains. */
  async revoke(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.chain;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch((err: unknown) => this.logger.warn({ err }, "lease revoke failed; it will expire"));
  }
}
