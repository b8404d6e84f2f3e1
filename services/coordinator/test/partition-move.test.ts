import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Modality, SearchMode, ShardHitSchema, type ShardSearchRequest } from "@taj/proto";
import { createLogger, memberKey, PARTITION_COUNT_KEY } from "@taj/common";
import { tableFromKeys } from "../src/cluster-table.ts";
import { planRoute } from "../src/routing.ts";
import { UpstreamHealth } from "@taj/common";
import { coordinatedSearch, type SearchDeps } from "../src/search.ts";
import type { ShardClients } from "../src/shard-clients.ts";

const member = (address: string, partitions: number[]) => JSON.stringify({ address, partitions, startedAt: "2026-01-01T00:00:00Z" });

// Partition 2 is moving from a1 to a3 (which already holds 3): both list it (tajctl's move protocol, steps 2-3).
const table = tableFromKeys([
  [PARTITION_COUNT_KEY, "4"],
  [memberKey("a", "a1"), member("a1:1", [0, 1, 2])],
  [memberKey("a", "a3"), member("a3:1", [2, 3])],
  [memberKey("b", "b1"), member("b1:1", [0, 1, 2, 3])],
]).table;

test("during a move each partition is asked of exactly one replica", () => {
  for (const site of ["a", "b"]) {
    const plan = planRoute(table, [0, 1, 2, 3], site);
    const asked = [...plan.calls.values()].flatMap((c) => c.partitions).sort();
    assert.deepEqual(asked, [0, 1, 2, 3], `site ${site}: every partition once`);
    assert.deepEqual(plan.uncovered, []);
  }
});

test("a search during a move never returns an id twice, even if a replica answers for more than it was asked", async () => {
  const calls: Array<{ address: string; partitions: number[] }> = [];
  // Every replica answers for every partition it holds (the same ids on both holders of 2 and 3).
  const holds: Record<string, number[]> = { "a1:1": [0, 1, 2], "a3:1": [2, 3], "b1:1": [0, 1, 2, 3] };
  const clients = {
    get: (address: string) => ({
      shardSearch: async (req: Pick<ShardSearchRequest, "partitions">) => {
        calls.push({ address, partitions: [...req.partitions] });
        const hits = holds[address]!.flatMap((p) => [0, 1].map((i) => create(ShardHitSchema, { id: `id-${p}-${i}`, similarity: 0.9 - 0.1 * i, partition: p })));
        return { hits, appliedSequence: 0n };
      },
    }),
  } as unknown as ShardClients;
  const deps: SearchDeps = {
    table: () => table,
    clients,
    health: new UpstreamHealth(5_000),
    settings: { localSite: "a", shardCallTimeoutMs: 500, perPartitionKFactor: 1 },
    logger: createLogger("test", "silent"),
  };
  const out = await coordinatedSearch(
    deps,
    { modality: Modality.FACE, template: [1], threshold: 0, maxCandidates: 100, mode: SearchMode.EXHAUSTIVE, allowPartial: false },
    Date.now() + 2_000,
  );
  const ids = out.candidates.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, "no duplicate id");
  assert.equal(ids.length, 8, "two ids per partition, each once");
  const asked = calls.flatMap((c) => c.partitions).sort();
  assert.deepEqual(asked, [0, 1, 2, 3], "one replica per partition");
  assert.ok(calls.every((c) => c.address.startsWith("a")), "local site only");
  assert.equal(calls.length, 2, "both holders at the site were asked, for different partitions");
});
