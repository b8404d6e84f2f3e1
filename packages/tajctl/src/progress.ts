import cliProgress from "cli-progress";
import type { MoveProgress } from "./move.ts";
import type { Plan } from "./plan.ts";

/**
 * One bar per receiving shard: each partition counts once when the shard has loaded it and once
 * when its former holder let go. Off a terminal, one line per finished step instead.
 */
export function moveProgress(plan: Plan, stream: NodeJS.WriteStream = process.stderr): { onProgress(p: MoveProgress): void; stop(): void } {
  const perTarget = new Map<string, number>();
  for (const m of plan.moves) perTarget.set(m.to, (perTarget.get(m.to) ?? 0) + 1);
  if (!stream.isTTY) {
    return {
      onProgress: (p) => {
        if (p.phase !== "loading") stream.write(`partition ${p.move.partition} -> ${plan.site}/${p.move.to}: ${p.phase === "releasing" ? "loaded" : "done"}\n`);
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    { format: " {shard} [{bar}] {value}/{total} steps | {state}", hideCursor: true, clearOnComplete: false, stream },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map([...perTarget].map(([shard, n]) => [shard, multi.create(n * 2, 0, { shard: `${plan.site}/${shard}`, state: "waiting" })]));
  return {
    onProgress(p) {
      const bar = bars.get(p.move.to);
      if (!bar) return;
      if (p.phase === "loading") bar.update({ state: "loading (replaying the log)" });
      else bar.increment(1, { state: p.phase === "releasing" ? "former holder letting go" : "done" });
    },
    stop: () => multi.stop(),
  };
}
