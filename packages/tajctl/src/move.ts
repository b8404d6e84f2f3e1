import { setTimeout as sleep } from "node:timers/promises";
import type { Etcd3 } from "etcd3";
import { readMember, updateAssignment } from "./layout.ts";
import { PlanError, type Move, type Plan } from "./plan.ts";

/**
 * The move protocol. For partition p going from S to T at a site:
 *   1. add p to T's assignment;  2. wait until T's live member entry lists p (a shard lists a
 *   partition only once it has replayed the log for it up to the head seen when it was assigned);
 *   3. remove p from S's assignment;  4. wait until S's entry no longer lists p.
 * So at every moment some live replica at the site lists p: it is never unsearchable there. While
 * both list it the coordinator asks one of them per search and dedupes ids anyway.
 * Partitions bound for the same shard are added in one write, so the shard replays the log once.
 */

export type Phase = "loading" | "releasing" | "done";

export interface MoveProgress {
  move: Move;
  phase: Phase;
}

export interface MoveReport {
  partition: number;
  from: string[];
  to: string;
  /** From the write to T's assignment until T lists p. */
  loadMs: number;
  /** Until every former holder stopped listing p. */
  totalMs: number;
}

export interface ExecuteOptions {
  /** Longest wait for one step (a target loading, a source letting go); default 10 min. */
  stepTimeoutMs?: number;
  pollMs?: number;
  onProgress?: (progress: MoveProgress) => void;
}

export class MoveError extends Error {}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new MoveError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Runs the plan's moves (targets in parallel), then deletes the assignments of retired shards. */
export async function executePlan(etcd: Etcd3, plan: Plan, options: ExecuteOptions = {}): Promise<MoveReport[]> {
  const stepTimeoutMs = options.stepTimeoutMs ?? 600_000;
  const pollMs = options.pollMs ?? 200;
  const { site } = plan;
  const byTarget = new Map<string, Move[]>();
  for (const m of plan.moves) byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m]);

  // A target that is not running would never load: refuse before touching anything.
  for (const target of byTarget.keys()) {
    if (!(await readMember(etcd, site, target))) {
      throw new PlanError(`shard ${site}/${target} is not a live member: start it (scale the StatefulSet) first`);
    }
  }

  const reports = await Promise.all(
    [...byTarget].map(async ([target, moves]) => {
      const started = performance.now();
      const incoming = moves.map((m) => m.partition);
      for (const move of moves) options.onProgress?.({ move, phase: "loading" });
      await updateAssignment(etcd, site, target, (ps) => [...ps, ...incoming]);

      const loadMs = new Map<number, number>();
      await waitUntil(
        `${site}/${target} to load partitions ${incoming.join(",")}`,
        async () => {
          const member = await readMember(etcd, site, target);
          for (const move of moves) {
            if (!loadMs.has(move.partition) && member?.partitions.includes(move.partition)) {
              loadMs.set(move.partition, performance.now() - started);
              options.onProgress?.({ move, phase: "releasing" });
            }
          }
          return loadMs.size === moves.length;
        },
        stepTimeoutMs, pollMs,
      );

      const sources = new Map<string, number[]>();
      for (const m of moves) for (const s of m.from) sources.set(s, [...(sources.get(s) ?? []), m.partition]);
      for (const [source, partitions] of sources) {
        await updateAssignment(etcd, site, source, (ps) => ps.filter((p) => !partitions.includes(p)));
      }
      await waitUntil(
        `former holders to let go of partitions ${incoming.join(",")}`,
        async () => {
          for (const [source, partitions] of sources) {
            const member = await readMember(etcd, site, source);
            if (member && member.partitions.some((p) => partitions.includes(p))) return false;
          }
          return true;
        },
        stepTimeoutMs, pollMs,
      );
      const totalMs = performance.now() - started;
      for (const move of moves) options.onProgress?.({ move, phase: "done" });
      return moves.map((m) => ({ partition: m.partition, from: m.from, to: target, loadMs: loadMs.get(m.partition) ?? totalMs, totalMs }));
    }),
  );

  for (const shard of plan.retired) {
    await updateAssignment(etcd, site, shard, (ps) => {
      if (ps.length > 0) throw new MoveError(`retired shard ${site}/${shard} still has partitions ${ps.join(",")}`);
      return undefined;
    });
  }
  return reports.flat().sort((a, b) => a.partition - b.partition);
}
