/**
 * Remembers replicas that just failed, so the next searches go straight to another replica
 * instead of each paying the failed call's timeout again (a silent site costs SHARD_CALL_TIMEOUT_MS
 * per call, which would eat the one-second budget).
 */
export class ReplicaHealth {
  readonly #until = new Map<string, number>();

  constructor(private readonly cooldownMs: number, private readonly now: () => number = Date.now) {}

  failed(address: string): void {
    this.#until.set(address, this.now() + this.cooldownMs);
  }

  ok(address: string): void {
    this.#until.delete(address);
  }

  cooling(): Set<string> {
    const now = this.now();
    const result = new Set<string>();
    for (const [address, until] of this.#until) {
      if (until > now) result.add(address);
      else this.#until.delete(address);
    }
    return result;
  }
}
