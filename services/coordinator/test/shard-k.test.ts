import { test } from "node:test";
import assert from "node:assert/strict";
import { Modality, SearchMode, type ShardSearchRequest } from "@taj/proto";
import { MAX_CANDIDATES, MAX_SHARD_K, PARTITION_COUNT_KEY, UpstreamHealth, createLogger, memberKey } from "@taj/common";
import { tableFromKeys } from "../src/cluster-table.ts";
import { coordinatedSearch, type SearchDeps } from "../src/search.ts";
import type { ShardClients } from "../src/shard-clients.ts";

// The per-partition k the coordinator sends stays within what a shard accepts (one constant in
// packages/common), whatever PER_PARTITION_K_FACTOR is: the largest search must not be refused.
const table = tableFromKeys([
  [PARTITION_COUNT_KEY, "2"],
  [memberKey("a", "a1"), JSON.stringify({ address: "a1:1", partitions: [0, 1], startedAt: "2026-01-01T00:00:00Z" })],
]).table;

async function askedK(maxCandidates: number, perPartitionKFactor: number): Promise<number> {
  const ks: number[] = [];
  const clients = {
    get: () => ({
      shardSearch: async (req: Pick<ShardSearchRequest, "k">) => {
        ks.push(req.k);
        return { hits: [], appliedSequence: 0n };
      },
    }),
  } as unknown as ShardClients;
  const deps: SearchDeps = {
    table: () => table,
    clients,
    health: new UpstreamHealth(5_000),
    settings: { localSite: "a", shardCallTimeoutMs: 500, perPartitionKFactor },
    logger: createLogger("test", "silent"),
  };
  await coordinatedSearch(
    deps,
    { modality: Modality.FACE, template: [1], threshold: -1, maxCandidates, mode: SearchMode.EXHAUSTIVE, allowPartial: false },
    Date.now() + 2_000,
  );
  assert.equal(ks.length, 1);
  return ks[0]!;
}

test("k is max_candidates x the factor, capped at what a shard answers", async () => {
  assert.equal(await askedK(20, 3), 60);
  assert.equal(await askedK(MAX_CANDIDATES, 3), MAX_SHARD_K);
  assert.ok(MAX_SHARD_K >= MAX_CANDIDATES, "a partition can always return the whole answer");
});
