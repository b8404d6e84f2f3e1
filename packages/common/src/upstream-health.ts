/**
 * Remembers upstreams that just failed, so the next calls go straight to another one instead of
 * each paying the failed call's cost again (a silent site costs a whole call timeout per call,
 * which would eat the caller's budget). Used by UpstreamPool (gateway: extractors, coordinators)
 * and by the coordinator's routing for shard replicas. A cooling upstream is only put last, never
 * dropped: when nothing else is left it is still tried.
 */
export class UpstreamHealth {
  readonly #until = new Map<string, number>();

  constructor(private readonly cooldownMs: number, private readonly now: () => number = Date.now) {}

  failed(key: string): void {
    if (this.cooldownMs > 0) this.#until.set(key, this.now() + this.cooldownMs);
  }

  ok(key: string): void {
    this.#until.delete(key);
  }

  isCooling(key: string): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#until.delete(key);
    return false;
  }

  cooling(): Set<string> {
    const now = this.now();
    const result = new Set<string>();
    for (const [key, until] of this.#until) {
      if (until > now) result.add(key);
      else this.#until.delete(key);
    }
    return result;
  }
}
