import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Etcd3, Lease } from "etcd3";

/**
 * Outside /taj/v1/ on purpose: coordinators watch that prefix and would log this key as malformed.
 * One lock for every site: moves are rare, and one at a time is easy to reason about.
 */
export const MOVE_LOCK_KEY = "/taj/locks/partition-moves";

export class LockBusyError extends Error {}

export interface HeldLock {
  holder: string;
  release(): Promise<void>;
}

/**
 * Takes the move lock: a key bound to a lease, created only if absent (etcd transaction), so two
 * tajctl runs never move partitions at once. If the holder dies its lease expires after `ttlS`.
 * The attempt is retried every 500 ms until `waitMs`; then fails naming the holder.
 */
export async function acquireMoveLock(etcd: Etcd3, what: string, options: { waitMs: number; ttlS?: number }): Promise<HeldLock> {
  const holder = JSON.stringify({ host: hostname(), pid: process.pid, what, since: new Date().toISOString() });
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    const lease: Lease = etcd.lease(options.ttlS ?? 15, { autoKeepAlive: true });
    const id = await lease.grant();
    const result = await etcd.if(MOVE_LOCK_KEY, "Create", "==", 0).then(etcd.put(MOVE_LOCK_KEY).value(holder).lease(id)).commit();
    if (result.succeeded) return { holder, release: () => lease.revoke().then(() => undefined) };
    await lease.revoke().catch(() => undefined);
    if (Date.now() >= deadline) {
      const current = await etcd.get(MOVE_LOCK_KEY).string();
      throw new LockBusyError(`another partition move is running (${current ?? "holder gone"}); try again when it is done`);
    }
    await sleep(500);
  }
}
