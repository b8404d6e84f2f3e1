import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { CoordinatedSearchRequestSchema, ErrorCode, Modality, SearchMode, type ShardSearchRequest } from "@taj/proto";
import { AppError, MAX_BODY_LOCATION_FILTER, PARTITION_COUNT_KEY, UpstreamHealth, createLogger, memberKey, type CallContext } from "@taj/common";
import { tableFromKeys } from "../src/cluster-table.ts";
import { coordinatorService } from "../src/service.ts";
import type { ShardClients } from "../src/shard-clients.ts";

// A search's body-location filter reaches every shard call unchanged; the coordinator refuses
// what the gateway would (common's check), so a caller past the gateway gets the same answer.
const table = tableFromKeys([
  [PARTITION_COUNT_KEY, "2"],
  [memberKey("a", "a1"), JSON.stringify({ address: "a1:1", partitions: [0], startedAt: "2026-01-01T00:00:00Z" })],
  [memberKey("a", "a2"), JSON.stringify({ address: "a2:1", partitions: [1], startedAt: "2026-01-01T00:00:00Z" })],
]).table;

function service() {
  const asked: Pick<ShardSearchRequest, "bodyLocations" | "partitions">[] = [];
  const clients = {
    get: () => ({
      shardSearch: async (req: ShardSearchRequest) => {
        asked.push({ bodyLocations: [...req.bodyLocations], partitions: [...req.partitions] });
        return { hits: [], appliedSequence: 0n };
      },
    }),
  } as unknown as ShardClients;
  const impl = coordinatorService({
    table: () => table,
    clients,
    health: new UpstreamHealth(5_000),
    settings: { localSite: "a", shardCallTimeoutMs: 500, perPartitionKFactor: 1 },
    logger: createLogger("test", "silent"),
    searchTimeoutMs: 2_000,
    maxSearchTimeoutMs: 2_000,
    statusCallTimeoutMs: 500,
  });
  const ctx: CallContext = { deadline: Infinity, signal: new AbortController().signal, metadata: new Metadata(), peerCertificate: undefined, peerAddress: "test", malformedRequest: undefined };
  const search = (patch: object) => impl.coordinatedSearch(
    create(CoordinatedSearchRequestSchema, {
      modality: Modality.TATTOO, template: [1, 0], similarityThreshold: -1, maxCandidates: 5, mode: SearchMode.EXHAUSTIVE, ...patch,
    }),
    ctx,
  );
  return { asked, search };
}

const refused = (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_BODY_LOCATION;

test("body_locations go to every shard call; none is an empty filter", async () => {
  const { asked, search } = service();
  await search({ bodyLocations: ["L ARM", "R ARM"] });
  assert.equal(asked.length, 2, "one call per replica");
  for (const call of asked) assert.deepEqual(call.bodyLocations, ["L ARM", "R ARM"]);
  asked.length = 0;
  await search({});
  for (const call of asked) assert.deepEqual(call.bodyLocations, []);
});

test("a filter the gateway would refuse is refused before any shard is asked", async () => {
  const { asked, search } = service();
  const tooMany = ["ABDOM", "ANKL", "L ANK", "ARM", "L ARM", "R ARM", "BACK", "BRST", "L BRS", "BUTTK", "L BUT", "CHEEK", "L CHK", "R CHK", "CHEST", "CHIN", "EAR"];
  assert.equal(tooMany.length, MAX_BODY_LOCATION_FILTER + 1);
  await assert.rejects(search({ bodyLocations: tooMany }), refused);
  await assert.rejects(search({ bodyLocations: ["NOT A CODE"] }), refused);
  await assert.rejects(search({ modality: Modality.FACE, bodyLocations: ["CHEST"] }), refused);
  assert.equal(asked.length, 0);
});
